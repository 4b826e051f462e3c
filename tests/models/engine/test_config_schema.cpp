// ConfigSchema: ranges declared in the table, renamed and removed keys, the key lists derived from the table, and
// the documentation's key tables (docs/config.md) generated from the schemas of both models.

#include "fixtures/errors.h"
#include "models/engine/config_schema.h"
#include "models/graphmae2/config.h"
#include "models/mocov3/config.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace engine = graphmae2::models::engine;
using graphmae2::testing::error_of;

namespace {

struct Toy {
  std::map<std::string, std::string> key_origins;
  std::vector<std::string> notes;
  double rate = 0.5;
  int64_t count = 1;
  bool on = false;
  std::string name = "toy";
  int64_t workers = 0;
};

const engine::ConfigSchema<Toy>& toy_schema() {
  using S = engine::ConfigSchema<Toy>;
  static const S schema(
      {
          {"rate", &Toy::rate, engine::open(0, 1)},
          {"count", &Toy::count, engine::at_least(1, "1: one")},
          {"on", &Toy::on},
          {"name", &Toy::name, engine::not_empty("a name")},
          {"workers", &Toy::workers, engine::closed(0, 64), engine::Training::unaffected},
      },
      S::Strings::bare, {S::renamed("n", "count"), S::renamed("enabled", "on")}, {{"legacy", "it never did anything"}});
  return schema;
}

TEST(ConfigSchema, RangesSayTheKeyTheValueWhereAndWhatIsAllowed) {
  const auto& s = toy_schema();
  Toy t;
  EXPECT_EQ(error_of([&] { s.check_ranges(t); }), "");
  s.set(t, "rate", "1", "t.yaml:2");
  EXPECT_EQ(error_of([&] { s.check_ranges(t); }), "t.yaml:2: rate = 1 is out of range (expected (0, 1))");
  t.rate = 0.5;
  t.count = 0;
  EXPECT_EQ(error_of([&] { s.check_ranges(t); }), "config: count = 0 is out of range (expected >= 1 (1: one))");
  t.count = 1;
  t.name.clear();
  EXPECT_EQ(error_of([&] { s.check_ranges(t); }), "config: name = \"\" is out of range (expected a name)");
  t.name = "x";
  t.workers = 65;
  EXPECT_EQ(error_of([&] { s.check_ranges(t); }), "config: workers = 65 is out of range (expected [0, 64])");
  EXPECT_EQ(engine::closed_open(0, 1).text(), "[0, 1)");
  EXPECT_EQ(engine::open_closed(0, 1).text(), "(0, 1]");
  EXPECT_EQ(engine::above(0).text(), "> 0");
}

TEST(ConfigSchema, AnOldNameSetsItsNewKeyAndLeavesANote) {
  const auto& s = toy_schema();
  Toy t;
  const auto set = s.apply_text(t, "n: 4\nenabled: true\n", "t.yaml");
  EXPECT_EQ(set, (std::vector<std::string>{"count", "on"}));
  EXPECT_EQ(t.count, 4);
  EXPECT_TRUE(t.on);
  EXPECT_EQ(t.notes, (std::vector<std::string>{"t.yaml:1: key 'n' is deprecated: it is now 'count'",
                                               "t.yaml:2: key 'enabled' is deprecated: it is now 'on'"}));
  EXPECT_EQ(t.key_origins.at("count"), "t.yaml:1");
  EXPECT_TRUE(s.is_bool("enabled"));
  EXPECT_NE(error_of([&] {
              s.apply_overrides(t, {{"n", "2"}, {"count", "3"}});
            }).find("given twice"),
            std::string::npos);
  // The lists: keys only the new names; flags every name, so that the command line hands them to set().
  EXPECT_EQ(s.keys(), (std::vector<std::string>{"rate", "count", "on", "name", "workers"}));
  EXPECT_EQ(s.flag_names(),
            (std::vector<std::string>{"rate", "count", "on", "name", "workers", "n", "enabled", "legacy"}));
  EXPECT_EQ(s.bool_flag_names(), (std::vector<std::string>{"on", "enabled"}));
  EXPECT_EQ(s.keys_not_affecting_training(), (std::vector<std::string>{"workers"}));
}

TEST(ConfigSchema, ARemovedKeyIsAnErrorExceptInAStoredConfig) {
  const auto& s = toy_schema();
  Toy t;
  EXPECT_EQ(error_of([&] { s.apply_text(t, "rate: 0.1\nlegacy: 3\n", "t.yaml"); }),
            "t.yaml:2: key 'legacy' was removed: it never did anything");
  EXPECT_EQ(error_of([&] {
              s.apply_overrides(t, {{"legacy", "3"}});
            }),
            "command line --legacy: key 'legacy' was removed: it never did anything");
  Toy stored;
  const auto set = s.apply_text(stored, "rate: 0.1\nlegacy: 3\n", "checkpoint", engine::ConfigSource::stored);
  EXPECT_EQ(set, (std::vector<std::string>{"rate"}));
  EXPECT_DOUBLE_EQ(stored.rate, 0.1);
  ASSERT_EQ(stored.notes.size(), 1u);
  EXPECT_NE(stored.notes[0].find("'legacy' was removed"), std::string::npos) << stored.notes[0];
}

TEST(ConfigSchema, TheKeyTableComesFromTheSchema) {
  const auto table = toy_schema().markdown(Toy());
  EXPECT_NE(table.find("| `rate` | `0.5` | number, (0, 1) |  |\n"), std::string::npos) << table;
  EXPECT_NE(table.find("| `workers` | `0` | integer, [0, 64] | yes |\n"), std::string::npos) << table;
  EXPECT_NE(table.find("| `n` | `count` |\n"), std::string::npos) << table;
  EXPECT_NE(table.find("| `legacy` | it never did anything |\n"), std::string::npos) << table;
}

// The text between `<!-- generated: NAME -->` and `<!-- end generated -->` in `doc`.
std::string generated_part(const std::string& doc, const std::string& name, size_t* begin, size_t* end) {
  const std::string open = "<!-- generated: " + name + " -->\n", close = "<!-- end generated -->";
  *begin = doc.find(open);
  if (*begin == std::string::npos) return "(no " + open + ")";
  *begin += open.size();
  *end = doc.find(close, *begin);
  return *end == std::string::npos ? "(no end)" : doc.substr(*begin, *end - *begin);
}

TEST(ConfigDocs, KeyTablesMatchTheSchemas) {
  // docs/config.md's tables are generated: GRAPHMAE2_UPDATE_DOCS=1 rewrites them from the schemas.
  const auto path = std::string(GRAPHMAE2_SOURCE_DIR) + "/docs/config.md";
  std::ifstream is(path);
  ASSERT_TRUE(is) << path;
  std::stringstream text;
  text << is.rdbuf();
  std::string doc = text.str();
  const bool update = std::getenv("GRAPHMAE2_UPDATE_DOCS") != nullptr;
  for (const auto& [name, table] : std::vector<std::pair<std::string, std::string>>{
           {"graphmae2", graphmae2::models::graphmae2::GraphMAE2Config::key_table()},
           {"mocov3", graphmae2::models::mocov3::mocov3_key_table()}}) {
    size_t begin = 0, end = 0;
    const auto current = generated_part(doc, name, &begin, &end);
    if (update && begin != std::string::npos && end != std::string::npos) {
      doc.replace(begin, end - begin, table);
    } else {
      EXPECT_EQ(current, table) << path << " disagrees with the " << name
                                << " schema: rerun this test with GRAPHMAE2_UPDATE_DOCS=1";
    }
  }
  if (update) std::ofstream(path) << doc;
}

}  // namespace
