#include "runners/native/model/safetensors.h"

#include <algorithm>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/json.h"
#include "base/status_macros.h"

namespace evald::runners::native::model {
namespace {

// A header beyond this is not a real checkpoint and would only cost memory.
constexpr uint64_t kMaxHeaderBytes = 100u << 20;

absl::Status Bad(absl::string_view file, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(file, ": ", what));
}

absl::Status BadTensor(absl::string_view file, absl::string_view tensor,
                       absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat(file, ": tensor '", tensor, "': ", what));
}

}  // namespace

absl::StatusOr<SafetensorsHeader> ParseSafetensors(
    absl::Span<const uint8_t> buffer, absl::string_view file_name) {
  if (buffer.size() < 8) {
    return Bad(file_name,
               absl::StrCat("file too short for the 8-byte header length (",
                            buffer.size(), " bytes)"));
  }
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | buffer[i];
  if (header_len > buffer.size() - 8) {
    return Bad(file_name, absl::StrCat("header length ", header_len,
                                       " runs past the end of the file (",
                                       buffer.size(), " bytes)"));
  }
  if (header_len > kMaxHeaderBytes) {
    return Bad(file_name, absl::StrCat("header length ", header_len,
                                       " exceeds the limit of ",
                                       kMaxHeaderBytes, " bytes"));
  }
  const absl::string_view header_text(
      reinterpret_cast<const char*>(buffer.data() + 8), header_len);
  base::JsonParseOptions parse_options;
  parse_options.max_depth = 64;
  absl::StatusOr<base::Json> json = base::ParseJson(header_text, parse_options);
  if (!json.ok()) {
    return Bad(file_name, absl::StrCat("header is not valid JSON: ",
                                       json.status().message()));
  }
  if (!json->is_object()) return Bad(file_name, "header is not a JSON object");

  const uint8_t* data_start = buffer.data() + 8 + header_len;
  const uint64_t data_size = buffer.size() - 8 - header_len;
  const uint64_t data_offset_in_file = 8 + header_len;

  SafetensorsHeader header;
  for (const auto& [name, entry] : json->object()) {
    if (name == "__metadata__") {
      if (!entry.is_object())
        return Bad(file_name, "__metadata__ is not an object");
      for (const auto& [key, value] : entry.object()) {
        if (!value.is_string()) {
          return Bad(file_name, absl::StrCat("__metadata__ value of '", key,
                                             "' is not a string"));
        }
        header.metadata.emplace_back(key, value.string_value());
      }
      continue;
    }
    if (!entry.is_object())
      return BadTensor(file_name, name, "entry is not an object");
    const base::Json* dtype_json = entry.Find("dtype");
    const base::Json* shape_json = entry.Find("shape");
    const base::Json* offsets_json = entry.Find("data_offsets");
    if (dtype_json == nullptr || !dtype_json->is_string()) {
      return BadTensor(file_name, name, "missing or non-string 'dtype'");
    }
    if (shape_json == nullptr || !shape_json->is_array()) {
      return BadTensor(file_name, name, "missing or non-array 'shape'");
    }
    if (offsets_json == nullptr || !offsets_json->is_array() ||
        offsets_json->array().size() != 2) {
      return BadTensor(file_name, name,
                       "'data_offsets' is not a two-element array");
    }
    std::optional<DType> dtype = ParseDType(dtype_json->string_value());
    if (!dtype.has_value()) {
      return BadTensor(
          file_name, name,
          absl::StrCat("unknown dtype '", dtype_json->string_value(), "'"));
    }
    TensorInfo info;
    info.name = name;
    info.dtype = *dtype;
    info.file = std::string(file_name);
    // Overflow-checked product of the dims.
    uint64_t elements = 1;
    bool overflow = false;
    for (const base::Json& dim : shape_json->array()) {
      if (!dim.is_int() || dim.int_value() < 0) {
        return BadTensor(
            file_name, name,
            "shape has a dimension that is not a non-negative integer");
      }
      const uint64_t d = static_cast<uint64_t>(dim.int_value());
      if (d != 0 && elements > std::numeric_limits<uint64_t>::max() / d)
        overflow = true;
      elements *= d;
      info.shape.push_back(dim.int_value());
    }
    const uint64_t elem_size = DTypeSize(*dtype);
    if (overflow ||
        elements > std::numeric_limits<uint64_t>::max() / elem_size ||
        elements > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return BadTensor(file_name, name, "shape is too large");
    }
    const base::Json& begin_json = offsets_json->array()[0];
    const base::Json& end_json = offsets_json->array()[1];
    if (!begin_json.is_int() || !end_json.is_int() ||
        begin_json.int_value() < 0 || end_json.int_value() < 0) {
      return BadTensor(file_name, name,
                       "data_offsets are not non-negative integers");
    }
    const uint64_t begin = static_cast<uint64_t>(begin_json.int_value());
    const uint64_t end = static_cast<uint64_t>(end_json.int_value());
    if (begin > end) {
      return BadTensor(
          file_name, name,
          absl::StrCat("data_offsets [", begin, ", ", end, ") are reversed"));
    }
    if (end > data_size) {
      return BadTensor(file_name, name,
                       absl::StrCat("data_offsets [", begin, ", ", end,
                                    ") run past the end of the data section (",
                                    data_size, " bytes)"));
    }
    const uint64_t expected = elements * elem_size;
    if (end - begin != expected) {
      return BadTensor(
          file_name, name,
          absl::StrCat("byte span ", end - begin, " does not match shape x ",
                       DTypeName(*dtype), " size (", expected, " bytes)"));
    }
    if ((data_offset_in_file + begin) % elem_size != 0) {
      return BadTensor(
          file_name, name,
          absl::StrCat("data at file offset ", data_offset_in_file + begin,
                       " is not aligned to its ", elem_size, "-byte elements"));
    }
    info.num_elements = static_cast<int64_t>(elements);
    info.data = data_start + begin;
    info.size_bytes = static_cast<size_t>(expected);
    header.tensors.push_back(std::move(info));
  }
  std::sort(header.tensors.begin(), header.tensors.end(),
            [](const TensorInfo& a, const TensorInfo& b) {
              if (a.data != b.data) return a.data < b.data;
              return a.size_bytes < b.size_bytes;
            });
  for (size_t i = 1; i < header.tensors.size(); ++i) {
    const TensorInfo& prev = header.tensors[i - 1];
    const TensorInfo& cur = header.tensors[i];
    if (cur.size_bytes == 0 || prev.size_bytes == 0) continue;
    if (cur.data < prev.data + prev.size_bytes) {
      return BadTensor(file_name, cur.name,
                       absl::StrCat("data overlaps tensor '", prev.name, "'"));
    }
  }
  // Duplicate names cannot occur in a parsed object only if the parser kept
  // the first; check explicitly so a hostile header cannot shadow a tensor.
  {
    absl::flat_hash_map<absl::string_view, int> seen;
    for (const TensorInfo& t : header.tensors) {
      if (!seen.emplace(t.name, 0).second) {
        return BadTensor(file_name, t.name, "appears twice in the header");
      }
    }
  }
  return header;
}

absl::StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(
    const std::string& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<base::MappedFile> file,
                   base::MappedFile::Open(path));
  ASSIGN_OR_RETURN(
      SafetensorsHeader header,
      ParseSafetensors(absl::MakeConstSpan(file->data(), file->size()), path));
  return std::unique_ptr<SafetensorsFile>(
      new SafetensorsFile(std::move(file), std::move(header)));
}

absl::StatusOr<std::unique_ptr<TensorStore>> TensorStore::Open(
    const std::string& dir) {
  std::unique_ptr<TensorStore> store(new TensorStore());
  const std::string index_path = dir + "/model.safetensors.index.json";
  const std::string single_path = dir + "/model.safetensors";
  std::vector<std::pair<std::string, std::string>>
      weight_map;  // tensor -> shard
  if (base::PathExists(index_path)) {
    ASSIGN_OR_RETURN(std::string text, base::ReadFileToString(index_path));
    absl::StatusOr<base::Json> json = base::ParseJson(text);
    if (!json.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          index_path, ": not valid JSON: ", json.status().message()));
    }
    const base::Json* map = json->Find("weight_map");
    if (map == nullptr || !map->is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat(index_path, ": missing object 'weight_map'"));
    }
    for (const auto& [tensor, shard] : map->object()) {
      if (!shard.is_string() || shard.string_value().empty() ||
          shard.string_value().find('/') != std::string::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat(index_path, ": weight_map entry '", tensor,
                         "' is not a plain file name"));
      }
      weight_map.emplace_back(tensor, shard.string_value());
      bool known = false;
      for (const std::string& p : store->paths_)
        known = known || p == dir + "/" + shard.string_value();
      if (!known) store->paths_.push_back(dir + "/" + shard.string_value());
    }
  } else if (base::PathExists(single_path)) {
    store->paths_.push_back(single_path);
  } else {
    return absl::NotFoundError(
        absl::StrCat(dir, ": neither model.safetensors nor ",
                     "model.safetensors.index.json exists"));
  }
  for (const std::string& path : store->paths_) {
    ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsFile> file,
                     SafetensorsFile::Open(path));
    for (const TensorInfo& t : file->header().tensors) {
      if (!store->by_name_.emplace(t.name, &t).second) {
        return absl::InvalidArgumentError(absl::StrCat(
            path, ": tensor '", t.name, "' is also in another shard"));
      }
    }
    store->files_.push_back(std::move(file));
  }
  for (const auto& [tensor, shard] : weight_map) {
    const TensorInfo* t = store->Find(tensor);
    if (t == nullptr || t->file != dir + "/" + shard) {
      return absl::InvalidArgumentError(absl::StrCat(
          index_path, ": tensor '", tensor, "' is not in its shard ", shard));
    }
  }
  return store;
}

const TensorInfo* TensorStore::Find(absl::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

std::vector<std::string> TensorStore::Names() const {
  std::vector<std::string> names;
  for (const auto& [name, info] : by_name_) names.push_back(name);
  std::sort(names.begin(), names.end());
  return names;
}

size_t TensorStore::total_bytes() const {
  size_t total = 0;
  for (const auto& f : files_) total += f->size();
  return total;
}

}  // namespace evald::runners::native::model
