// MalformedUpload: the flb::Error a payload's bytes earn when they break
// the wire format or the algorithm's upload schema (wire_format.h). The
// round loop branches on this type (--on-bad-upload), never on the
// message text.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "flb/core/error.h"

namespace flb {

class MalformedUpload : public Error {
 public:
  static constexpr int64_t kNone = -1;

  // `sender` names the bytes' origin for the reader ("client 17", "server
  // broadcast", "rank 1, byte 4096"); `client` is the client id when known
  // (0xffffffff for the server's broadcast, kNone when the bytes do not
  // say); `part` the 0-based part index, kNone for the header or the
  // payload as a whole; `field` the wire field that was wrong ("values",
  // "positions", "tensor", "length", ...); `detail` what was wrong with it.
  // what(): "client 17: malformed payload: part 3 (positions): position
  // 901 out of range [0, 784)".
  MalformedUpload(const std::string& sender, int64_t client, int64_t part, std::string field, std::string detail)
      : Error(sender + ": malformed payload: " + (part >= 0 ? "part " + std::to_string(part) + " " : std::string()) +
              "(" + field + "): " + detail),
        client_(client),
        part_(part),
        field_(std::move(field)),
        detail_(std::move(detail)) {}

  int64_t client() const { return client_; }
  int64_t part() const { return part_; }
  const std::string& field() const { return field_; }
  const std::string& detail() const { return detail_; }

 private:
  int64_t client_;
  int64_t part_;
  std::string field_;
  std::string detail_;
};

}  // namespace flb
