// Kubernetes exec over SPDY/3.1, what kubectl falls back to when the API
// server (or a proxy in front of it) refuses the websocket upgrade.
//
// The client POSTs the exec URL with `Upgrade: SPDY/3.1` and
// `X-Stream-Protocol-Version: v4.channel.k8s.io`; after the 101 it opens one
// SPDY stream per channel with a SYN_STREAM whose `streamtype` header names it
// (`error`, `stdin` when there is input, `stdout`, `stderr`), odd ids in that
// order. Stdin goes out as DATA frames (FIN ends it); the server answers on
// the same streams, and the `error` stream carries the final v1 Status (the
// exit code), as channel 3 does on a websocket.
//
// Frames (all integers big-endian):
//   control: 1 bit set | 15 bits version (3) | 16 bits type | 8 bits flags |
//            24 bits length | payload
//   data:    1 bit clear | 31 bits stream id | 8 bits flags | 24 bits length |
//            payload
// Header blocks (SYN_STREAM, SYN_REPLY, HEADERS) are a count and
// length-prefixed lowercase names and values, compressed with zlib primed with
// the protocol's dictionary: one compression context per direction for the
// whole connection, each block ended by a sync flush.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "infra/kubernetes/exec_transport.h"
#include "skycore/error.h"

struct z_stream_s;

namespace skycore::kubernetes::spdy {

enum ControlType : uint16_t {
  kSynStream = 1,
  kSynReply = 2,
  kRstStream = 3,
  kSettings = 4,
  kPing = 6,
  kGoAway = 7,
  kHeaders = 8,
  kWindowUpdate = 9,
};

inline constexpr uint8_t kFlagFin = 0x01;

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Frame {
  bool control = false;
  uint16_t type = 0;  // control frames: a ControlType
  uint8_t flags = 0;
  uint32_t stream_id = 0;  // data frames; control frames that name a stream
  std::string payload;     // data: the bytes; control: all after the 8-byte header
};

// Takes one whole frame off the front of `bytes`; nullopt (and `bytes`
// untouched) while it is incomplete. For SYN_STREAM, SYN_REPLY, HEADERS,
// RST_STREAM and WINDOW_UPDATE, `stream_id` is read from the payload.
std::optional<Frame> DecodeFrame(std::string& bytes);

std::string EncodeData(uint32_t stream_id, std::string_view data, bool fin);
std::string EncodeControl(ControlType type, uint8_t flags, std::string_view payload);
// A SYN_STREAM with a compressed header block, priority 0, no association.
std::string EncodeSynStream(uint32_t stream_id, std::string_view header_block, uint8_t flags);
std::string EncodePing(uint32_t id);
std::string EncodeRstStream(uint32_t stream_id, uint32_t status);

// A big-endian u32 at `offset` of `bytes`, and the error a malformed frame
// raises (shared by the framing and the session).
uint32_t GetU32(std::string_view bytes, size_t offset);
NetworkError Malformed(std::string_view what);

// Header blocks before compression. DecodeHeaderBlock throws NetworkError on
// a malformed block.
std::string EncodeHeaderBlock(const Headers& headers);
Headers DecodeHeaderBlock(std::string_view block);

// The sending direction's zlib context.
class HeaderCompressor {
 public:
  HeaderCompressor();
  ~HeaderCompressor();
  HeaderCompressor(const HeaderCompressor&) = delete;
  HeaderCompressor& operator=(const HeaderCompressor&) = delete;
  std::string Compress(const Headers& headers);

 private:
  std::unique_ptr<z_stream_s> zlib_;
};

// The receiving direction's zlib context. Throws NetworkError on data that
// does not inflate.
class HeaderDecompressor {
 public:
  HeaderDecompressor();
  ~HeaderDecompressor();
  HeaderDecompressor(const HeaderDecompressor&) = delete;
  HeaderDecompressor& operator=(const HeaderDecompressor&) = delete;
  Headers Decompress(std::string_view compressed);

 private:
  std::unique_ptr<z_stream_s> zlib_;
};

// An exec stream over SPDY/3.1 on `io`.
std::unique_ptr<exec_transport::ExecStream> MakeSpdyExecStream(boost::asio::io_context& io,
                                                               const ContextCredentials& creds);

}  // namespace skycore::kubernetes::spdy
