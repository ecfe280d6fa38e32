// Small string helpers shared by the model, the loader and the CLI.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace skycore::strings {

std::string Lower(std::string_view text);
std::string Upper(std::string_view text);
std::string_view Trim(std::string_view text);
std::vector<std::string> Split(std::string_view text, char sep);
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

// Damerau-style edit distance (insert, delete, substitute, swap adjacent),
// case-insensitive.
size_t EditDistance(std::string_view a, std::string_view b);

// The candidates closest to `word` (at most `limit`), nearest first. A candidate
// qualifies when its distance is at most max(1, |word|/3) (max 3), or when one
// is a case-insensitive prefix of the other and the word has 3+ characters.
std::vector<std::string> CloseMatches(std::string_view word,
                                      const std::vector<std::string>& candidates, size_t limit = 3);

// "a, b and c" / "'a', 'b' or 'c'" for messages.
std::string JoinQuoted(const std::vector<std::string>& items, std::string_view last_sep = " or ");

// `text` as one word for a POSIX shell: 'single-quoted', ' as '\''.
std::string ShellQuote(std::string_view text);

// Percent-encodes a URL query value or form field: all but RFC 3986's
// unreserved characters.
std::string UrlEncode(std::string_view text);

// Standard base64 (with padding) of `bytes`.
std::string EncodeBase64(std::string_view bytes);
// Decodes standard base64, whitespace ignored; nullopt for any other text.
std::optional<std::string> DecodeBase64(std::string_view text);

// Parses a whole string as a finite double / int64; false if anything is left over.
bool ParseDouble(std::string_view text, double& out);
bool ParseInt(std::string_view text, long long& out);

// Shortest text that reads back as the same double: 8 -> "8", 0.5 -> "0.5".
std::string FormatNumber(double value);

// A double as Python's str() writes it, so it reads back as a float:
// 1.0 -> "1.0", 0.5 -> "0.5", 1e+20 -> "1e+20".
std::string FormatPythonFloat(double value);

}  // namespace skycore::strings
