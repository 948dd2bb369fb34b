// File: report/text.h
// -----------------------------------------------------------------------------
// Escaping of text taken from the store for the report formats.
//
// Thread-safety: stateless functions.
#ifndef EVALD_REPORT_TEXT_H_
#define EVALD_REPORT_TEXT_H_

#include <string>

namespace evald::report {

// For XML and HTML text and attribute values: & < > " ' become entities and
// control characters other than tab and newlines (not allowed in XML 1.0)
// become spaces.
std::string EscapeXml(const std::string& s);

// For a Markdown table cell: Markdown punctuation is backslash-escaped and
// newlines become spaces.
std::string EscapeMarkdown(const std::string& s);

}  // namespace evald::report

#endif  // EVALD_REPORT_TEXT_H_
