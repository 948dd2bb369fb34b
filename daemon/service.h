// File: daemon/service.h
// -----------------------------------------------------------------------------
// The EvalService implementation (proto/service.proto) over the store, the
// executor and the resident-model cache. Every call is authenticated with a
// bearer token when one is configured (always on TCP).
//
// Thread-safety: gRPC calls handlers concurrently; the parts it uses are
// thread-safe. Borrowed objects must outlive the server.
#ifndef EVALD_DAEMON_SERVICE_H_
#define EVALD_DAEMON_SERVICE_H_

#include <atomic>
#include <string>

#include "base/clock.h"
#include "daemon/cluster/coordinator.h"
#include "daemon/cluster/shard_service.h"
#include "daemon/executor.h"
#include "daemon/model_cache.h"
#include "daemon/planner.h"
#include "daemon/run_validation.h"
#include "proto/service.grpc.pb.h"
#include "store/store.h"

namespace evald::daemon {

struct ServiceOptions {
  std::string data_dir;
  // Required in the "authorization: Bearer <token>" metadata of every call
  // when non-empty.
  std::string token;
  // Suites whose resident models do not fit this plan's budget are refused at
  // submit, before anything loads (daemon/planner.h). Budget 0: no check.
  PlanOptions plan;
};

class EvalServiceImpl final : public v1::EvalService::Service {
 public:
  // `coordinator` and `shards` serve sharded runs (cluster.slurm); null
  // refuses them.
  EvalServiceImpl(ServiceOptions options, store::Store* store,
                  Executor* executor, ModelCache* models, v1::Fingerprint host,
                  const base::Clock* clock,
                  cluster::Coordinator* coordinator = nullptr,
                  cluster::ShardService* shards = nullptr);

  // Serves sharded runs from now on (main sets it once the TCP address the
  // workers dial is bound).
  void SetCoordinator(cluster::Coordinator* coordinator) {
    coordinator_.store(coordinator);
  }
  // Ends open Watch streams (the server is going down).
  void BeginShutdown() { shutting_down_.store(true); }

  grpc::Status Submit(grpc::ServerContext* context,
                      const v1::SubmitRequest* request,
                      v1::SubmitResponse* response) override;
  grpc::Status Watch(grpc::ServerContext* context,
                     const v1::WatchRequest* request,
                     grpc::ServerWriter<v1::WatchEvent>* writer) override;
  grpc::Status GetRun(grpc::ServerContext* context,
                      const v1::GetRunRequest* request,
                      v1::RunRecord* response) override;
  grpc::Status ListRuns(grpc::ServerContext* context,
                        const v1::ListRunsRequest* request,
                        v1::ListRunsResponse* response) override;
  grpc::Status Cancel(grpc::ServerContext* context,
                      const v1::CancelRequest* request,
                      v1::CancelResponse* response) override;
  grpc::Status GetResults(grpc::ServerContext* context,
                          const v1::GetResultsRequest* request,
                          v1::GetResultsResponse* response) override;
  grpc::Status ListSamples(grpc::ServerContext* context,
                           const v1::ListSamplesRequest* request,
                           v1::ListSamplesResponse* response) override;
  // At most kSamplesPerChunk samples or about kChunkBytes per message (one
  // larger sample goes alone). The store hands over a task's samples at once,
  // so the daemon holds them while it streams; the client never does.
  grpc::Status StreamSamples(
      grpc::ServerContext* context, const v1::ListSamplesRequest* request,
      grpc::ServerWriter<v1::SampleChunk>* writer) override;
  static constexpr int kSamplesPerChunk = 64;
  static constexpr size_t kChunkBytes = 1 << 20;
  grpc::Status GetEnvironment(grpc::ServerContext* context,
                              const v1::GetEnvironmentRequest* request,
                              v1::GetEnvironmentResponse* response) override;
  grpc::Status PutTag(grpc::ServerContext* context,
                      const v1::PutTagRequest* request,
                      v1::PutTagResponse* response) override;
  grpc::Status ListTags(grpc::ServerContext* context,
                        const v1::ListTagsRequest* request,
                        v1::ListTagsResponse* response) override;
  grpc::Status Generate(grpc::ServerContext* context,
                        const v1::GenerateCallRequest* request,
                        v1::GenerateCallResponse* response) override;
  grpc::Status Loglikelihood(grpc::ServerContext* context,
                             const v1::LoglikelihoodCallRequest* request,
                             v1::LoglikelihoodCallResponse* response) override;
  grpc::Status ListModels(grpc::ServerContext* context,
                          const v1::ListModelsRequest* request,
                          v1::ListModelsResponse* response) override;
  grpc::Status DeleteRun(grpc::ServerContext* context,
                         const v1::DeleteRunRequest* request,
                         v1::DeleteRunResponse* response) override;
  grpc::Status CheckStore(grpc::ServerContext* context,
                          const v1::CheckStoreRequest* request,
                          v1::CheckStoreResponse* response) override;
  grpc::Status ImportRun(grpc::ServerContext* context,
                         grpc::ServerReader<v1::ImportRunChunk>* reader,
                         v1::ImportRunResponse* response) override;
  grpc::Status ClaimShard(grpc::ServerContext* context,
                          const v1::ClaimShardRequest* request,
                          v1::ClaimShardResponse* response) override;
  grpc::Status PutShardSamples(grpc::ServerContext* context,
                               const v1::PutShardSamplesRequest* request,
                               v1::PutShardSamplesResponse* response) override;
  grpc::Status FinishShard(grpc::ServerContext* context,
                           const v1::FinishShardRequest* request,
                           v1::FinishShardResponse* response) override;

 private:
  grpc::Status CheckAuth(const grpc::ServerContext* context) const;

  const ServiceOptions options_;
  store::Store* store_;
  Executor* executor_;
  ModelCache* models_;
  const v1::Fingerprint host_;
  const base::Clock* clock_;
  std::atomic<cluster::Coordinator*> coordinator_;
  cluster::ShardService* shards_;
  StoreHashCache hash_cache_;
  std::atomic<bool> shutting_down_{false};
};

}  // namespace evald::daemon

#endif  // EVALD_DAEMON_SERVICE_H_
