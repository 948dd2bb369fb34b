#include "store/utf8_fields.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/utf8.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/wire_format_lite.h"

namespace evald::store {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;
using google::protobuf::internal::WireFormatLite;

bool IsString(const FieldDescriptor& f) {
  return f.type() == FieldDescriptor::TYPE_STRING;
}
bool IsMessage(const FieldDescriptor& f) {
  return f.cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE;
}

// Visits every string and sub-message field that is set. With `fix`, escapes
// invalid strings; returns the number of invalid strings seen.
int Walk(Message* message, const Message& read, bool fix) {
  const Reflection* reflection = read.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  reflection->ListFields(read, &fields);
  int invalid = 0;
  for (const FieldDescriptor* f : fields) {
    if (IsString(*f)) {
      if (f->is_repeated()) {
        for (int i = 0; i < reflection->FieldSize(read, f); ++i) {
          const std::string s = reflection->GetRepeatedString(read, f, i);
          if (base::IsValidUtf8(s)) continue;
          ++invalid;
          if (fix)
            reflection->SetRepeatedString(message, f, i,
                                          base::EscapeInvalidUtf8(s));
        }
      } else {
        const std::string s = reflection->GetString(read, f);
        if (base::IsValidUtf8(s)) continue;
        ++invalid;
        if (fix) reflection->SetString(message, f, base::EscapeInvalidUtf8(s));
      }
    } else if (IsMessage(*f)) {
      if (f->is_repeated()) {
        for (int i = 0; i < reflection->FieldSize(read, f); ++i) {
          if (fix) {
            Message* sub = reflection->MutableRepeatedMessage(message, f, i);
            invalid += Walk(sub, *sub, true);
          } else {
            invalid += Walk(nullptr, reflection->GetRepeatedMessage(read, f, i),
                            false);
          }
        }
      } else if (fix) {
        Message* sub = reflection->MutableMessage(message, f);
        invalid += Walk(sub, *sub, true);
      } else {
        invalid += Walk(nullptr, reflection->GetMessage(read, f), false);
      }
    }
  }
  return invalid;
}

absl::Status RepairMessage(google::protobuf::io::CodedInputStream* in,
                           const Descriptor& type,
                           google::protobuf::io::CodedOutputStream* out,
                           int depth);

absl::Status Malformed(const Descriptor& type, absl::string_view why) {
  return absl::DataLossError(
      absl::StrCat("not a well-formed ", type.full_name(), " record: ", why));
}

absl::Status RepairMessage(google::protobuf::io::CodedInputStream* in,
                           const Descriptor& type,
                           google::protobuf::io::CodedOutputStream* out,
                           int depth) {
  if (depth > 64) return Malformed(type, "nested too deeply");
  while (true) {
    const uint32_t tag = in->ReadTag();
    if (tag == 0) return absl::OkStatus();  // end of this (sub-)message
    out->WriteTag(tag);
    const int number = WireFormatLite::GetTagFieldNumber(tag);
    switch (WireFormatLite::GetTagWireType(tag)) {
      case WireFormatLite::WIRETYPE_VARINT: {
        uint64_t v = 0;
        if (!in->ReadVarint64(&v)) return Malformed(type, "truncated varint");
        out->WriteVarint64(v);
        break;
      }
      case WireFormatLite::WIRETYPE_FIXED64: {
        uint64_t v = 0;
        if (!in->ReadLittleEndian64(&v))
          return Malformed(type, "truncated fixed64");
        out->WriteLittleEndian64(v);
        break;
      }
      case WireFormatLite::WIRETYPE_FIXED32: {
        uint32_t v = 0;
        if (!in->ReadLittleEndian32(&v))
          return Malformed(type, "truncated fixed32");
        out->WriteLittleEndian32(v);
        break;
      }
      case WireFormatLite::WIRETYPE_LENGTH_DELIMITED: {
        uint32_t length = 0;
        if (!in->ReadVarint32(&length))
          return Malformed(type, "truncated length");
        std::string payload;
        if (!in->ReadString(&payload, static_cast<int>(length))) {
          return Malformed(type, "field runs past the end");
        }
        const FieldDescriptor* field = type.FindFieldByNumber(number);
        if (field != nullptr && IsString(*field)) {
          payload = base::EscapeInvalidUtf8(payload);
        } else if (field != nullptr &&
                   field->type() == FieldDescriptor::TYPE_MESSAGE) {
          std::string repaired;
          {
            google::protobuf::io::CodedInputStream sub_in(
                reinterpret_cast<const uint8_t*>(payload.data()),
                static_cast<int>(payload.size()));
            google::protobuf::io::StringOutputStream sub_stream(&repaired);
            google::protobuf::io::CodedOutputStream sub_out(&sub_stream);
            if (absl::Status s = RepairMessage(&sub_in, *field->message_type(),
                                               &sub_out, depth + 1);
                !s.ok()) {
              return s;
            }
            if (!sub_in.ConsumedEntireMessage())
              return Malformed(type, "stray end-group tag");
          }
          payload = std::move(repaired);
        }
        out->WriteVarint32(static_cast<uint32_t>(payload.size()));
        out->WriteString(payload);
        break;
      }
      default:
        // Groups are not used by evald's schema.
        return Malformed(
            type, absl::StrCat("unexpected wire type in field ", number));
    }
  }
}

}  // namespace

bool HasInvalidUtf8(const Message& message) {
  return Walk(nullptr, message, false) > 0;
}

int EscapeInvalidUtf8Fields(Message* message) {
  return Walk(message, *message, true);
}

absl::StatusOr<std::string> RepairUtf8OnWire(absl::string_view bytes,
                                             const Descriptor& type) {
  std::string out;
  {
    google::protobuf::io::CodedInputStream in(
        reinterpret_cast<const uint8_t*>(bytes.data()),
        static_cast<int>(bytes.size()));
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    if (absl::Status s = RepairMessage(&in, type, &coded, 0); !s.ok()) return s;
    if (!in.ConsumedEntireMessage() ||
        in.CurrentPosition() != static_cast<int>(bytes.size())) {
      return Malformed(type, "stray end-group tag");
    }
  }
  return out;
}

}  // namespace evald::store
