// File: report/text.h
// -----------------------------------------------------------------------------
// Escaping of text taken from the store for the report formats, and the
// lower-case run state names every output uses.
//
// Thread-safety: stateless functions.
#ifndef EVALD_REPORT_TEXT_H_
#define EVALD_REPORT_TEXT_H_

#include <string>

#include "proto/store.pb.h"

namespace evald::report {

// For XML and HTML text and attribute values: & < > " ' become entities and
// control characters other than tab and newlines (not allowed in XML 1.0)
// become spaces.
std::string EscapeXml(const std::string& s);

// For a Markdown table cell: Markdown punctuation is backslash-escaped and
// newlines become spaces.
std::string EscapeMarkdown(const std::string& s);

// "queued", "running", "succeeded", "failed", "cancelled" or "unknown".
const char* RunStateText(v1::RunState state);

}  // namespace evald::report

#endif  // EVALD_REPORT_TEXT_H_
