// libFuzzer target: the cluster wire codec, versions 1 to 3 (docs/wire-encoding.md).
//
// decode() must refuse malformed input with a reason and without throwing. What it accepts must be
// canonical (cluster_codec.h): encode() gives back exactly the input bytes, without throwing (the
// limits decode enforces are the ones encode checks), and decoding those bytes gives an equal
// message of the type named in the header.
#include "proto/cluster_codec.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

using namespace wsg::cluster;

#define FUZZ_CHECK(cond)                                                                                 \
  do {                                                                                                   \
    if (!(cond)) {                                                                                       \
      std::fprintf(stderr, "fuzz_cluster_codec: check failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                                                      \
    }                                                                                                    \
  } while (0)

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  std::string error;
  const auto message = decode(bytes, &error);
  if (!message) {
    FUZZ_CHECK(!error.empty());
    FUZZ_CHECK(!decode(bytes).has_value());  // the same answer without an error string
    return 0;
  }
  FUZZ_CHECK(error.empty());
  FUZZ_CHECK(bytes.size() >= 2 && static_cast<uint8_t>(bytes[0]) == version_of(type_of(*message)));
  FUZZ_CHECK(static_cast<uint8_t>(bytes[1]) == static_cast<uint8_t>(type_of(*message)));

  // Every decoded message re-encodes (encode refuses exactly what decode refuses) to the same bytes.
  const auto encoded_or = encode(*message, &error);
  FUZZ_CHECK(encoded_or.has_value());
  const std::string& encoded = *encoded_or;
  FUZZ_CHECK(encoded == bytes);
  const auto again = decode(encoded, &error);
  FUZZ_CHECK(again.has_value());
  FUZZ_CHECK(*again == *message);
  return 0;
}
