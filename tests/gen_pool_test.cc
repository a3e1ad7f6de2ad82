// xgdb-gen-pool, run as a real process: the file it writes loads back with
// ParseStateDb (so it is schema-valid), has the rows asked for, and its
// relations hold both ways. The same seed gives the same bytes.
#include <set>

#include <gtest/gtest.h>

#include "schema/sexpr.h"
#include "statedb/gzip.h"
#include "support/paths.h"
#include "xgdb/database.h"
#include "xgdb/statedb.h"

namespace xgdb {
namespace {

using test::ReadFile;

using test::ShellQuote;
using test::TempDir;

std::string Generate(const std::string& args, const std::string& out) {
  auto r = test::Run(ShellQuote(test::BinaryPath("xgdb-gen-pool")) + " " + args + " --out " +
               ShellQuote(out));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return r.output;
}

bool Contains(const std::string& set_text, const std::string& ref) {
  for (const std::string& e : sexpr::ParseSet(set_text)) {
    if (e == ref) return true;
  }
  return false;
}

TEST(GenPool, SmallPoolLoadsBackWithConsistentRelations) {
  TempDir dir;
  std::string out = Generate("--hosts 3 --vms-per-host 4 --seed 5", dir / "state.db");
  EXPECT_NE(out.find("bytes"), std::string::npos) << out;  // it reports the size

  StateDbManifest m;
  auto db = ParseStateDb(ReadFile(dir / "state.db"), nullptr, &m);
  EXPECT_EQ(m.schema_major, 5);
  EXPECT_EQ(m.schema_minor, 909);  // newest by default
  EXPECT_EQ(db->RowCount("pool"), 1u);
  EXPECT_EQ(db->RowCount("host"), 3u);
  EXPECT_EQ(db->RowCount("host_metrics"), 3u);
  EXPECT_EQ(db->RowCount("host_cpu"), 24u);
  EXPECT_EQ(db->RowCount("network"), 3u);
  EXPECT_EQ(db->RowCount("PIF"), 9u);
  EXPECT_EQ(db->RowCount("SR"), 4u);   // a local SR per host + one shared
  EXPECT_EQ(db->RowCount("PBD"), 6u);
  EXPECT_EQ(db->RowCount("VM"), 15u);  // 12 guests + a control domain per host
  EXPECT_EQ(db->RowCount("VM_metrics"), 15u);
  size_t vbds = db->RowCount("VBD"), vdis = db->RowCount("VDI");
  EXPECT_GE(vdis, 12u);
  EXPECT_EQ(vbds, vdis + 12);  // every guest also has an empty CD drive
  EXPECT_GE(db->RowCount("VIF"), 12u);

  size_t running = 0;
  for (const std::string& vm : db->ReadRefs("VM")) {
    std::string host = db->ReadField("VM", "resident_on", vm);
    if (db->ReadField("VM", "power_state", vm) == "Running") {
      ++running;
      ASSERT_EQ(db->GetTableFromRef(host), "host") << vm;
    }
    if (host != "OpaqueRef:NULL") {
      EXPECT_TRUE(Contains(db->ReadField("host", "resident_VMs", host), vm));
    }
    EXPECT_EQ(db->GetTableFromRef(db->ReadField("VM", "metrics", vm)), "VM_metrics");
  }
  EXPECT_GE(running, 3u);
  for (const std::string& vbd : db->ReadRefs("VBD")) {
    std::string vm = db->ReadField("VBD", "VM", vbd);
    ASSERT_EQ(db->GetTableFromRef(vm), "VM") << vbd;
    EXPECT_TRUE(Contains(db->ReadField("VM", "VBDs", vm), vbd)) << vbd;
    std::string vdi = db->ReadField("VBD", "VDI", vbd);
    if (vdi != "OpaqueRef:NULL") {
      ASSERT_EQ(db->GetTableFromRef(vdi), "VDI");
      EXPECT_TRUE(Contains(db->ReadField("VDI", "VBDs", vdi), vbd));
    }
  }
  for (const std::string& vdi : db->ReadRefs("VDI")) {
    std::string sr = db->ReadField("VDI", "SR", vdi);
    ASSERT_EQ(db->GetTableFromRef(sr), "SR");
    EXPECT_TRUE(Contains(db->ReadField("SR", "VDIs", sr), vdi));
  }
  for (const std::string& vif : db->ReadRefs("VIF")) {
    std::string net = db->ReadField("VIF", "network", vif);
    ASSERT_EQ(db->GetTableFromRef(net), "network");
    EXPECT_TRUE(Contains(db->ReadField("VM", "VIFs", db->ReadField("VIF", "VM", vif)), vif));
  }
  for (const std::string& pbd : db->ReadRefs("PBD")) {
    EXPECT_TRUE(Contains(db->ReadField("host", "PBDs", db->ReadField("PBD", "host", pbd)), pbd));
  }
  // Refs are OpaqueRef:<uuid>, uuids unique database-wide (the load checks).
  for (const std::string& ref : db->ReadRefs("VM")) {
    EXPECT_EQ(ref.rfind("OpaqueRef:", 0), 0u);
    EXPECT_EQ(ref.size(), 10u + 36u);
  }
}

TEST(GenPool, SameSeedSameBytesOtherSeedOtherBytes) {
  TempDir dir;
  Generate("--hosts 2 --vms 7 --seed 11", dir / "a.db");
  Generate("--hosts 2 --vms 7 --seed 11", dir / "b.db");
  Generate("--hosts 2 --vms 7 --seed 12", dir / "c.db");
  EXPECT_EQ(ReadFile(dir / "a.db"), ReadFile(dir / "b.db"));
  EXPECT_NE(ReadFile(dir / "a.db"), ReadFile(dir / "c.db"));
  auto db = ParseStateDb(ReadFile(dir / "a.db"), nullptr);
  EXPECT_EQ(db->RowCount("VM"), 9u);  // --vms is a total
}

TEST(GenPool, GzipOutputHoldsTheSameDocument) {
  TempDir dir;
  Generate("--hosts 1 --vms 3 --seed 2", dir / "plain.db");
  Generate("--hosts 1 --vms 3 --seed 2 --gzip", dir / "packed.db");
  std::string packed = ReadFile(dir / "packed.db");
  ASSERT_TRUE(statedb::IsGzip(packed));
  EXPECT_EQ(statedb::Gunzip(packed), ReadFile(dir / "plain.db"));
  EXPECT_EQ(ParseStateDb(packed, nullptr)->RowCount("VM"), 4u);
}

TEST(GenPool, BadFlagsFail) {
  TempDir dir;
  auto r = test::Run(ShellQuote(test::BinaryPath("xgdb-gen-pool")) + " --hosts 0 --out " +
               ShellQuote(dir / "x.db"));
  EXPECT_NE(r.exit_code, 0);
}

}  // namespace
}  // namespace xgdb
