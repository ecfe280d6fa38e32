// SPDY/3.1 framing and header compression for Kubernetes exec
// (src/kubernetes/exec_spdy.h), and the choice of exec protocol. Exec over
// SPDY against a real API server is tests/python/test_k8s_spdy.py.
#include <gtest/gtest.h>

#include <string>

#include "infra/kubernetes/exec.h"
#include "infra/kubernetes/exec_spdy.h"
#include "skycore/error.h"

namespace skycore::kubernetes {
namespace {

std::string Bytes(std::initializer_list<unsigned> values) {
  std::string out;
  for (unsigned value : values) out.push_back(static_cast<char>(value));
  return out;
}

TEST(K8sSpdyFrames, DataFrameLayoutAndRoundTrip) {
  const std::string frame = spdy::EncodeData(3, "hello", true);
  // Control bit clear, stream 3; FIN, length 5; the bytes.
  EXPECT_EQ(frame, Bytes({0, 0, 0, 3, 1, 0, 0, 5}) + "hello");
  std::string buffer = frame + spdy::EncodeData(5, "", false);
  auto first = spdy::DecodeFrame(buffer);
  ASSERT_TRUE(first.has_value());
  EXPECT_FALSE(first->control);
  EXPECT_EQ(first->stream_id, 3u);
  EXPECT_EQ(first->flags, spdy::kFlagFin);
  EXPECT_EQ(first->payload, "hello");
  auto second = spdy::DecodeFrame(buffer);
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->stream_id, 5u);
  EXPECT_EQ(second->flags, 0);
  EXPECT_TRUE(second->payload.empty());
  EXPECT_TRUE(buffer.empty());
}

TEST(K8sSpdyFrames, IncompleteFrameWaitsForMoreBytes) {
  const std::string frame = spdy::EncodeData(1, std::string(100, 'x'), false);
  for (size_t cut : {0ul, 4ul, 8ul, 107ul}) {
    std::string buffer = frame.substr(0, cut);
    EXPECT_FALSE(spdy::DecodeFrame(buffer).has_value()) << cut;
    EXPECT_EQ(buffer.size(), cut);
  }
  std::string whole = frame;
  EXPECT_TRUE(spdy::DecodeFrame(whole).has_value());
}

TEST(K8sSpdyFrames, ControlFramesCarryVersionTypeAndStream) {
  EXPECT_EQ(spdy::EncodePing(1), Bytes({0x80, 3, 0, 6, 0, 0, 0, 4, 0, 0, 0, 1}));
  EXPECT_EQ(spdy::EncodeRstStream(9, 5),
            Bytes({0x80, 3, 0, 3, 0, 0, 0, 8, 0, 0, 0, 9, 0, 0, 0, 5}));

  std::string buffer = spdy::EncodeSynStream(11, "block", 0) + spdy::EncodePing(2);
  auto syn = spdy::DecodeFrame(buffer);
  ASSERT_TRUE(syn.has_value());
  EXPECT_TRUE(syn->control);
  EXPECT_EQ(syn->type, spdy::kSynStream);
  EXPECT_EQ(syn->stream_id, 11u);
  // Stream id, associated stream, priority, slot, then the header block.
  EXPECT_EQ(syn->payload, Bytes({0, 0, 0, 11, 0, 0, 0, 0, 0, 0}) + "block");
  auto ping = spdy::DecodeFrame(buffer);
  ASSERT_TRUE(ping.has_value());
  EXPECT_EQ(ping->type, spdy::kPing);
  EXPECT_EQ(ping->payload, Bytes({0, 0, 0, 2}));
}

TEST(K8sSpdyFrames, OtherVersionsAreRefused) {
  std::string buffer = Bytes({0x80, 2, 0, 6, 0, 0, 0, 4, 0, 0, 0, 1});
  EXPECT_THROW(spdy::DecodeFrame(buffer), NetworkError);
}

TEST(K8sSpdyHeaders, BlockLayoutAndMalformedBlocks) {
  EXPECT_EQ(spdy::EncodeHeaderBlock({{"ab", "c"}}),
            Bytes({0, 0, 0, 1, 0, 0, 0, 2}) + "ab" + Bytes({0, 0, 0, 1}) + "c");
  EXPECT_EQ(spdy::DecodeHeaderBlock(spdy::EncodeHeaderBlock({{"streamtype", "stdout"}})),
            (spdy::Headers{{"streamtype", "stdout"}}));
  EXPECT_THROW(spdy::DecodeHeaderBlock(Bytes({0, 0, 0, 1, 0, 0, 0, 9}) + "ab"), NetworkError);
  EXPECT_THROW(spdy::DecodeHeaderBlock(Bytes({0xff, 0, 0, 0})), NetworkError);
}

TEST(K8sSpdyHeaders, CompressionRoundTripsAcrossOneContextPerDirection) {
  spdy::HeaderCompressor compressor;
  spdy::HeaderDecompressor decompressor;
  const spdy::Headers error = {{"streamtype", "error"}};
  const spdy::Headers reply = {{":status", "200"},
                               {"x-stream-protocol-version", "v4.channel.k8s.io"}};
  const std::string first = compressor.Compress(error);
  // A zlib stream primed with a dictionary: FDICT set in its header.
  ASSERT_GE(first.size(), 2u);
  EXPECT_EQ(static_cast<unsigned char>(first[0]) & 0x0f, 8);
  EXPECT_NE(static_cast<unsigned char>(first[1]) & 0x20, 0);
  EXPECT_EQ(decompressor.Decompress(first), error);
  // Later blocks continue the same zlib streams: no header, and a repeated
  // block costs only a few bytes.
  const std::string second = compressor.Compress(reply);
  const std::string third = compressor.Compress(error);
  EXPECT_LT(third.size(), first.size());
  EXPECT_EQ(decompressor.Decompress(second), reply);
  EXPECT_EQ(decompressor.Decompress(third), error);
  // A fresh decompressor cannot read a block from the middle of a stream.
  spdy::HeaderDecompressor fresh;
  EXPECT_THROW(fresh.Decompress(third), NetworkError);
}

TEST(K8sExecProtocol, NamesFromTheEnvironment) {
  EXPECT_EQ(ExecProtocolFromName(""), ExecProtocol::kAuto);
  EXPECT_EQ(ExecProtocolFromName("auto"), ExecProtocol::kAuto);
  EXPECT_EQ(ExecProtocolFromName("websocket"), ExecProtocol::kWebSocket);
  EXPECT_EQ(ExecProtocolFromName("spdy"), ExecProtocol::kSpdy);
  try {
    ExecProtocolFromName("SPDY/3.1");
    FAIL() << "an unknown protocol was accepted";
  } catch (const InvalidSkyPilotConfigError& error) {
    EXPECT_NE(std::string(error.what()).find("SKYCORE_K8S_EXEC_PROTOCOL='SPDY/3.1'"),
              std::string::npos)
        << error.what();
  }
}

}  // namespace
}  // namespace skycore::kubernetes
