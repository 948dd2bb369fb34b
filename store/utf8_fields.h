// File: store/utf8_fields.h
// -----------------------------------------------------------------------------
// Proto3 `string` fields must hold valid UTF-8: protobuf serialises anything
// but refuses to parse a record whose strings are not UTF-8. A single stray
// byte (from a checkpoint's config.json quoted into an error, a generation
// cut inside a character, a dataset row) would make the record unreadable
// for good. The store passes every record it writes through
// EscapeInvalidUtf8Fields, so what it stores always parses; RepairUtf8OnWire
// mends records written before that rule existed (`evalctl fsck --repair`).
//
// Invalid bytes become the four characters "\xNN" (base::EscapeInvalidUtf8).
// `bytes` fields are left alone. Pure functions; thread-safe.
#ifndef EVALD_STORE_UTF8_FIELDS_H_
#define EVALD_STORE_UTF8_FIELDS_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"

namespace evald::store {

// True when some string field of `message` (or of a sub-message, map keys
// and values included) is not valid UTF-8.
bool HasInvalidUtf8(const google::protobuf::Message& message);

// Escapes the invalid bytes of every such field in place; returns how many
// strings changed.
int EscapeInvalidUtf8Fields(google::protobuf::Message* message);

// The serialised `bytes` of a `type` message with the invalid UTF-8 of its
// string fields escaped, found by walking the wire format (no parse, which
// is exactly what fails). Fields unknown to `type` are copied as they are.
// DataLoss when the bytes are not a well-formed message at all.
absl::StatusOr<std::string> RepairUtf8OnWire(
    absl::string_view bytes, const google::protobuf::Descriptor& type);

}  // namespace evald::store

#endif  // EVALD_STORE_UTF8_FIELDS_H_
