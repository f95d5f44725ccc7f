// A test hook: makes one rank send a crafted upload through the real
// MPI_Gatherv, so a test can show that the server rejects each kind of
// malformed upload before it touches server state, names the client and
// the field, and (--on-bad-upload skip) ends the run bitwise equal to one
// where that client did not upload (tests/e2e/test_hostile_uploads.py).
//
// Armed from FLB_TEST_UPLOAD=RANK:ROUND:KIND (ROUND counted from 1). In that
// round, rank RANK rewrites the LAST upload of its buffer of concatenated
// uploads (so that a broken header loses nothing else) as KIND says:
//   omit       the upload is removed: the reference, a client that did not upload
//   magic      a wrong magic number
//   version    wire version 99
//   overrun    the header's length overruns the buffer
//   truncated  the payload ends 4 bytes early (its length says so too)
//   algorithm  another algorithm's id
//   foreign    the id of a client another rank hosts
//   unsampled  the id of a client this rank hosts that was not sampled
//   duplicate  the upload sent twice
//   tensor     its first part names a tensor past the algorithm's list
//   count      its first part's count is 2^62 (its byte size overflows)
//   nan, inf   its first part's first value is NaN, +infinity
//   unsorted   the first two positions of its first index-list part swapped
//   repeated   the second position of that part equal to the first
//   position   the first position of that part past the tensor's end
//   boost      every value times 1000: well-formed, so it is accepted (a
//              model-replacement attack; --clip-update-norm bounds it)
// A malformed value, or a kind the upload cannot carry (no index-list
// part, no unsampled client), is an error, so a test cannot pass because
// its upload was never crafted.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace flb::sim {

struct HostileUpload {
  int rank = -1;  // -1: none armed
  int64_t round = 0;  // 0-based
  std::string kind;
};

// Parses "RANK:ROUND:KIND"; throws flb::Error naming the variable and the field.
HostileUpload parse_hostile_upload(const std::string& text);

// Reads FLB_TEST_UPLOAD (throws as parse_hostile_upload does) and arms it.
void arm_hostile_upload_from_env();

// What the rewrite needs to know about the run.
struct UploadContext {
  int rank = 0, ranks = 1;
  int64_t round = 0, clients = 0;
  std::vector<int64_t> sampled;  // ascending
};

// Rewrites `buffer` (this rank's uploads, concatenated) when this is the
// armed rank and round. Throws flb::Error when the kind cannot be crafted.
void tamper_if_armed(const UploadContext& ctx, std::vector<uint8_t>& buffer);

}  // namespace flb::sim
