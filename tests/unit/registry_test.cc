// The algorithm registry: names and wire ids unique (a bad table is
// rejected with both rows named), wire ids frozen at their published
// values, option groups parsed once into the algorithms' values.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "flb/algo/registry.h"
#include "flb/core/error.h"

namespace flb::algo {
namespace {

std::string error_of(const std::vector<RegistryEntry>& entries) {
  try {
    check_registry(entries);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::unique_ptr<Algorithm> fake_factory(const Options&, uint64_t) { return nullptr; }

TEST(Registry, WireIdsAreTheFrozenOnesAndUnique) {
  // The wire ids every payload header (and every stored checkpoint) carries:
  // typed here independently of registry.cc.
  const std::map<std::string, uint16_t> frozen = {
      {"fedavg", 1},  {"topk", 2},     {"lbgm", 3},      {"fedloru", 4},   {"pfedloru", 5},
      {"mfedloru", 6}, {"fedit", 7},   {"fedprox", 8},   {"ffa-lora", 9},  {"flexlora", 10},
      {"fed-dare", 11}, {"fedsrd", 12}, {"fedsrd-e", 13}};
  std::map<std::string, uint16_t> got;
  std::set<uint16_t> ids;
  for (const RegistryEntry& e : registry()) {
    got[e.name] = e.wire_id;
    ids.insert(e.wire_id);
    std::printf("  %-9s wire id %u\n", e.name.c_str(), e.wire_id);
  }
  EXPECT_EQ(got, frozen);
  EXPECT_EQ(ids.size(), registry().size());
  EXPECT_EQ(error_of(registry()), "");
}

TEST(Registry, EveryAlgorithmIsBuiltWithItsNameAndWireId) {
  for (const RegistryEntry& e : registry()) {
    const auto algo = make_algorithm(e.name, nullptr, 1);
    EXPECT_EQ(algo->wire_id(), e.wire_id) << e.name;
    EXPECT_EQ(algo->name(), e.name);
  }
}

TEST(Registry, RejectsADuplicateWireIdOrNameNamingBothRows) {
  const std::vector<RegistryEntry> ids = {{"a", 1, fake_factory, {}}, {"b", 2, fake_factory, {}}, {"c", 2, fake_factory, {}}};
  const std::string id_error = error_of(ids);
  std::printf("  duplicate wire id: %s\n", id_error.c_str());
  EXPECT_NE(id_error.find("row 3 ('c')"), std::string::npos);
  EXPECT_NE(id_error.find("wire id 2 already used by row 2 ('b')"), std::string::npos);

  const std::vector<RegistryEntry> names = {{"a", 1, fake_factory, {}}, {"a", 2, fake_factory, {}}};
  const std::string name_error = error_of(names);
  std::printf("  duplicate name: %s\n", name_error.c_str());
  EXPECT_NE(name_error.find("name already registered by row 1"), std::string::npos);

  EXPECT_NE(error_of({{"z", 0, fake_factory, {}}}).find("wire id 0"), std::string::npos);
  EXPECT_NE(error_of({{"z", 5, nullptr, {}}}).find("no factory"), std::string::npos);
}

TEST(Registry, UnknownAlgorithmListsTheKnownOnes) {
  try {
    make_algorithm("fedavgg", nullptr, 1);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("choose one of: fedavg, topk"), std::string::npos) << e.what();
  }
}

TEST(AlgorithmOptions, ChoicesAndRangesAreChecked) {
  EXPECT_NO_THROW(parse_options({"--sparsifier", "magnitude", "--base-compressor", "topk"}));
  EXPECT_THROW(parse_options({"--sparsifier", "largest"}), Error);
  EXPECT_THROW(parse_options({"--lora-rank", "0"}), Error);
  EXPECT_THROW(parse_options({"--rank", "4"}), Error);  // renamed --lora-rank
  // A relation between two groups: mFedLoRU's ranks are capped by --lora-rank.
  const auto bad = parse_options({"--lora-rank", "4", "--client-lora-ranks", "2,8"});
  try {
    make_algorithm("mfedloru", bad.get(), 1);
    FAIL() << "no error";
  } catch (const Error& e) {
    std::printf("  %s\n", e.what());
    EXPECT_NE(std::string(e.what()).find("--client-lora-ranks"), std::string::npos);
  }
  EXPECT_NO_THROW(make_algorithm("mfedloru", parse_options({"--lora-rank", "8", "--client-lora-ranks", "2,8"}).get(), 1));
}

}  // namespace
}  // namespace flb::algo
