#include "flb/sim/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>
#include <torch/serialize/archive.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "flb/core/error.h"
#include "flb/sim/collectively.h"

namespace flb::sim {
namespace {

namespace fs = std::filesystem;

constexpr const char* kMagic = "flbench-checkpoint 1";

std::string rank_file(int rank) {
  char name[32];
  std::snprintf(name, sizeof name, "rank-%05d.pt", rank);
  return name;
}

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

// `key=value` lines of a TOML text (comments and blank lines skipped).
std::map<std::string, std::string> toml_lines(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    const size_t eq = line.find('=');
    if (line.empty() || line[0] == '#' || eq == std::string::npos) continue;
    out[trim(line.substr(0, eq))] = trim(line.substr(eq + 1));
  }
  return out;
}

// Makes a written file or directory durable (a crash of the node, not only
// of the process, must not leave a manifest whose files are lost).
void sync_path(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  require(fd >= 0, "checkpoint: cannot open " + path + " to sync it");
  const int rc = ::fsync(fd);
  ::close(fd);
  require(rc == 0, "checkpoint: fsync " + path + " failed");
}

void write_text(const std::string& path, const std::string& text) {
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << text;
    require(f.good(), "checkpoint: cannot write " + path);
  }
  sync_path(path);
}

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

// Test hook (tests/e2e/test_resume.py): FLB_TEST_CRASH_IN_CHECKPOINT=N[:swap]
// kills rank 0 with SIGKILL while it writes the checkpoint after round N:
// once the .tmp directory is complete and before the swap, or (":swap")
// between moving .ckpt to .ckpt.old and moving .tmp to .ckpt.
void maybe_crash(int64_t round, const char* stage) {
  const char* env = std::getenv("FLB_TEST_CRASH_IN_CHECKPOINT");
  if (env == nullptr) return;
  const std::string spec = env;
  const size_t colon = spec.find(':');
  const std::string want_stage = colon == std::string::npos ? "tmp" : spec.substr(colon + 1);
  if (std::to_string(round) == spec.substr(0, colon) && want_stage == stage) {
    std::fprintf(stderr, "flbench: FLB_TEST_CRASH_IN_CHECKPOINT: killing rank 0 in the checkpoint after round %lld (%s)\n",
                 static_cast<long long>(round), stage);
    std::raise(SIGKILL);
  }
}

// Archive keys become attribute names in TorchScript source: identifiers
// that are not Python keywords ("global" fails to load).
void save_tensors(torch::serialize::OutputArchive& archive, const std::string& key, const std::vector<torch::Tensor>& ts) {
  torch::serialize::OutputArchive sub;
  for (size_t i = 0; i < ts.size(); ++i) sub.write("t" + std::to_string(i), ts[i].detach(), /*is_buffer=*/true);
  archive.write(key, sub);
}

// Copies the archive's tensors into `ts` (same count, shapes and types).
void save_clock(torch::serialize::OutputArchive& archive, const VirtualClock::State& s) {
  torch::serialize::OutputArchive sub;
  const auto i64 = torch::TensorOptions().dtype(torch::kInt64);
  sub.write("bytes_down", torch::tensor(s.bytes_down, i64), /*is_buffer=*/true);
  sub.write("last_round", torch::tensor(s.last_round, i64), /*is_buffer=*/true);
  sub.write("elapsed_s", torch::tensor({s.elapsed_s}, torch::kFloat64), /*is_buffer=*/true);
  archive.write("virtual_clock", sub);
}
VirtualClock::State load_clock(torch::serialize::InputArchive& archive, const std::string& where) {
  torch::serialize::InputArchive sub;
  torch::Tensor bytes_down, last_round, elapsed;
  require(archive.try_read("virtual_clock", sub) && sub.try_read("bytes_down", bytes_down, true) &&
              sub.try_read("last_round", last_round, true) && sub.try_read("elapsed_s", elapsed, true) &&
              elapsed.numel() == 1,
          where + ": the virtual clock's ledger is missing or incomplete");
  const auto values = [](const torch::Tensor& t) {
    const torch::Tensor c = t.to(torch::kCPU, torch::kInt64).contiguous();
    return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
  };
  return {values(bytes_down), values(last_round), elapsed.to(torch::kFloat64).item<double>()};
}
void load_tensors(torch::serialize::InputArchive& archive, const std::string& key, std::vector<torch::Tensor> ts,
                  const std::string& where) {
  torch::serialize::InputArchive sub;
  require(archive.try_read(key, sub), where + ": '" + key + "' is missing");
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < ts.size(); ++i) {
    torch::Tensor t;
    require(sub.try_read("t" + std::to_string(i), t, true), where + ": '" + key + "' has fewer tensors than this model");
    require(t.sizes() == ts[i].sizes() && t.scalar_type() == ts[i].scalar_type(),
            where + ": '" + key + "' tensor " + std::to_string(i) + " has another shape or type than this model's");
    ts[i].copy_(t);
  }
  torch::Tensor extra;
  require(!sub.try_read("t" + std::to_string(ts.size()), extra, true), where + ": '" + key + "' has more tensors than this model");
}

std::vector<torch::Tensor> buffers(torch::nn::Module& model) { return model.buffers(); }

}  // namespace

std::string Manifest::to_text() const {
  std::ostringstream s;
  s.precision(17);
  s << kMagic << "\n"
    << "completed_rounds " << completed_rounds << "\n"
    << "mpi_size " << mpi_size << "\n"
    << "config_hash " << config_hash << "\n";
  for (const auto& [table, rows] : table_rows) s << "rows " << table << " " << rows << "\n";
  s << "bytes_up " << totals.bytes_up << "\n"
    << "bytes_down " << totals.bytes_down << "\n"
    << "gather_sent_all " << totals.gather_sent_all << "\n"
    << "bcast_bytes " << totals.bcast_bytes << "\n"
    << "rss_max " << totals.rss_max << "\n"
    << "seconds " << totals.seconds << "\n";
  return s.str();
}

Manifest Manifest::parse(const std::string& text, const std::string& where) {
  std::istringstream in(text);
  std::string line;
  require(std::getline(in, line) && line == kMagic, where + " is not an flbench checkpoint manifest");
  Manifest m;
  std::map<std::string, bool> seen;
  while (std::getline(in, line)) {
    std::istringstream l(line);
    std::string key;
    l >> key;
    if (key.empty()) continue;
    if (key == "rows") {
      std::string table;
      int64_t rows = -1;
      l >> table >> rows;
      require(!l.fail() && rows >= 0, where + ": bad line '" + line + "'");
      m.table_rows.emplace_back(table, rows);
      continue;
    }
    if (key == "completed_rounds") l >> m.completed_rounds;
    else if (key == "mpi_size") l >> m.mpi_size;
    else if (key == "config_hash") l >> m.config_hash;
    else if (key == "bytes_up") l >> m.totals.bytes_up;
    else if (key == "bytes_down") l >> m.totals.bytes_down;
    else if (key == "gather_sent_all") l >> m.totals.gather_sent_all;
    else if (key == "bcast_bytes") l >> m.totals.bcast_bytes;
    else if (key == "rss_max") l >> m.totals.rss_max;
    else if (key == "seconds") l >> m.totals.seconds;
    else continue;  // a later version's field
    require(!l.fail(), where + ": bad line '" + line + "'");
    seen[key] = true;
  }
  for (const char* key : {"completed_rounds", "mpi_size", "config_hash"})
    require(seen.count(key) > 0, where + " lacks " + key);
  return m;
}

int64_t Manifest::rows(const std::string& table) const {
  for (const auto& [name, rows] : table_rows)
    if (name == table) return rows;
  throw Error("checkpoint manifest: no row count for table /" + table);
}

std::string resumable_config(const std::string& config_toml) {
  static const char* kFree[] = {"rounds", "resume", "checkpoint-every", "checkpoint_every", "out", "overwrite",
                                "export-adapter", "export-merged", "round-timeout", "skip-memory-check",
                                "transport"};  // MPI or NCCL carry the same bits
  std::istringstream in(config_toml);
  std::string out;
  for (std::string line; std::getline(in, line);) {
    const size_t eq = line.find('=');
    const std::string key = eq == std::string::npos ? "" : trim(line.substr(0, eq));
    bool free = false;
    for (const char* k : kFree) free = free || key == k;
    if (!free) out += line + "\n";
  }
  return out;
}

std::string config_hash(const std::string& resumable) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a 64
  for (unsigned char c : resumable) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return hex;
}

void write_checkpoint(comm::Transport& comm, const std::string& out, const Manifest& manifest, const std::string& resumable,
                      const RunState& state) {
  const std::string dir = out + ".ckpt", tmp = dir + ".tmp", old = dir + ".old";
  const bool root = comm.rank() == 0;
  // 1. A fresh .tmp directory (a leftover of a killed attempt is removed).
  collectively(comm, [&] {
    if (!root) return;
    std::error_code ec;
    fs::remove_all(tmp, ec);
    require(!ec, "checkpoint: cannot remove " + tmp + ": " + ec.message());
    fs::create_directory(tmp, ec);
    require(!ec, "checkpoint: cannot create " + tmp + ": " + ec.message());
  });
  // 2. Every rank writes its file; rank 0 also the model and the config.
  collectively(comm, [&] {
    torch::serialize::OutputArchive mine;
    state.algorithm.save_state(mine);
    const std::string path = tmp + "/" + rank_file(comm.rank());
    mine.save_to(path);
    sync_path(path);
    if (!root) return;
    torch::serialize::OutputArchive model;
    save_tensors(model, "global_tensors", state.global);
    save_tensors(model, "model_parameters", state.model.parameters());
    save_tensors(model, "model_buffers", buffers(state.model));
    save_clock(model, state.clock.state());
    model.save_to(tmp + "/model.pt");
    sync_path(tmp + "/model.pt");
    write_text(tmp + "/config.toml", resumable);
  });
  // 3. Rank 0: the manifest last, then the swap.
  collectively(comm, [&] {
    if (!root) return;
    write_text(tmp + "/manifest.txt", manifest.to_text());
    sync_path(tmp);
    maybe_crash(manifest.completed_rounds, "tmp");
    std::error_code ec;
    fs::remove_all(old, ec);
    require(!ec, "checkpoint: cannot remove " + old + ": " + ec.message());
    if (fs::exists(dir)) {
      fs::rename(dir, old, ec);
      require(!ec, "checkpoint: cannot rename " + dir + " to " + old + ": " + ec.message());
    }
    maybe_crash(manifest.completed_rounds, "swap");
    fs::rename(tmp, dir, ec);
    require(!ec, "checkpoint: cannot rename " + tmp + " to " + dir + ": " + ec.message());
    const fs::path parent = fs::absolute(dir).parent_path();
    sync_path(parent.string());
    fs::remove_all(old, ec);
  });
}

bool find_checkpoint(comm::Transport& comm, const std::string& out, const std::string& resumable, Manifest* manifest,
                     std::string* dir) {
  std::string found, text, saved_config;
  if (comm.rank() == 0) {
    for (const std::string& d : {out + ".ckpt", out + ".ckpt.old"}) {
      if (!fs::exists(d + "/manifest.txt")) continue;
      found = d;
      text = read_text(d + "/manifest.txt");
      saved_config = read_text(d + "/config.toml");
      break;
    }
  }
  comm.bcast_text(found);
  if (found.empty()) return false;
  comm.bcast_text(text);
  comm.bcast_text(saved_config);
  // Every rank checks the same texts: the same outcome everywhere.
  try {
    *manifest = Manifest::parse(text, found + "/manifest.txt");
    require(manifest->mpi_size == comm.size(),
            "--resume: the checkpoint " + found + " was written by " + std::to_string(manifest->mpi_size) +
                " MPI ranks; resume it with mpirun -np " + std::to_string(manifest->mpi_size) + " (this run has " +
                std::to_string(comm.size()) + ")");
    if (manifest->config_hash != config_hash(resumable)) {
      const auto was = toml_lines(saved_config), now = toml_lines(resumable);
      std::string diff;
      for (const auto& [key, value] : now) {
        const auto it = was.find(key);
        if (it == was.end()) diff += "\n  " + key + ": not in the checkpoint, now " + value;
        else if (it->second != value) diff += "\n  " + key + ": " + it->second + " in the checkpoint, now " + value;
      }
      for (const auto& [key, value] : was)
        if (now.count(key) == 0) diff += "\n  " + key + ": " + value + " in the checkpoint, not set now";
      throw Error("--resume: the options differ from those of the checkpoint " + found +
                  " (only --rounds may change):" + (diff.empty() ? std::string(" (config hash differs)") : diff));
    }
  } catch (const Error& e) {
    throw CollectiveError(e.what());
  }
  *dir = found;
  return true;
}

void load_checkpoint(comm::Transport& comm, const std::string& dir, torch::Device device, const RunState& state) {
  collectively(comm, [&] {
    const std::string model_path = dir + "/model.pt", rank_path = dir + "/" + rank_file(comm.rank());
    require(fs::exists(model_path) && fs::exists(rank_path), "--resume: the checkpoint " + dir + " lacks " +
                                                                 (fs::exists(model_path) ? rank_path : model_path));
    torch::serialize::InputArchive model;
    model.load_from(model_path, device);
    load_tensors(model, "global_tensors", state.global, model_path);
    load_tensors(model, "model_parameters", state.model.parameters(), model_path);
    load_tensors(model, "model_buffers", buffers(state.model), model_path);
    state.clock.restore(load_clock(model, model_path));
    torch::serialize::InputArchive mine;
    mine.load_from(rank_path, device);
    state.algorithm.load_state(mine);
  });
}

}  // namespace flb::sim
