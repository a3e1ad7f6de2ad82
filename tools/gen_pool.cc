// xgdb-gen-pool: writes a synthetic but schema-valid xapi state.db.
//
// The pool looks like a real one: a pool object, hosts with metrics, CPUs,
// PIFs (one per network) and PBDs, a local SR per host plus one shared SR,
// networks, and VMs (a control domain per host plus guests spread over the
// hosts, mostly running) with metrics, disks (VDI + VBD), a CD drive, VIFs
// and consoles. Every row is loaded into a Database (LoadRow + FinishLoad,
// the path a state.db takes), so unknown columns are refused, defaults fill
// what is not given, uuids are checked unique and the relations (VM.VBDs,
// host.resident_VMs, ...) come out consistent. The same seed always gives
// the same bytes.
//
//   xgdb-gen-pool --hosts 16 --vms-per-host 40 --seed 7 --out state.db
#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "schema/sexpr.h"
#include "statedb/atomic_file.h"
#include "statedb/gzip.h"
#include "xgdb/database.h"
#include "xgdb/error.h"
#include "xgdb/schema.h"
#include "xgdb/statedb.h"

namespace xgdb {
namespace {

using sexpr::PrintMap;
using sexpr::PrintSet;

constexpr const char* kNull = "OpaqueRef:NULL";
constexpr const char* kDate = "20250301T09:30:00Z";

class PoolGenerator {
 public:
  PoolGenerator(Database* db, uint64_t seed) : db_(db), rng_(seed) {}

  void Generate(int hosts, int vms) {
    networks_ = {MakeNetwork(0, "Pool-wide network associated with eth0", "xenbr0"),
                 MakeNetwork(1, "Pool-wide network associated with eth1", "xenbr1"),
                 MakeNetwork(2, "Storage network", "xapi1")};
    shared_sr_ = MakeSr("NFS virtual disk storage", "nfs", true, 8ull << 40);
    for (int h = 0; h < hosts; ++h) MakeHost(h);
    MakePool();
    for (int v = 0; v < vms; ++v) MakeGuest(v, hosts_[static_cast<size_t>(v % hosts)]);
    Finish();
  }

 private:
  struct LiveValue {
    std::string table, ref, column, value;
  };
  struct Host {
    std::string ref, local_sr, name;
    int index = 0;
  };

  uint64_t Next() { return rng_(); }
  uint64_t Below(uint64_t n) { return n == 0 ? 0 : Next() % n; }

  std::string Uuid() {
    uint64_t a = Next(), b = Next();
    char buf[37];
    std::snprintf(buf, sizeof buf, "%08x-%04x-4%03x-%04x-%012" PRIx64,
                  static_cast<unsigned>(a >> 32), static_cast<unsigned>((a >> 16) & 0xffff),
                  static_cast<unsigned>(a & 0xfff),
                  static_cast<unsigned>(0x8000 | ((b >> 48) & 0x3fff)),
                  static_cast<uint64_t>(b & 0xffffffffffffull));
    return buf;
  }
  std::string Mac() {
    uint64_t a = Next();
    char buf[18];
    std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", 0x02u,
                  static_cast<unsigned>(a & 0xff), static_cast<unsigned>((a >> 8) & 0xff),
                  static_cast<unsigned>((a >> 16) & 0xff), static_cast<unsigned>((a >> 24) & 0xff),
                  static_cast<unsigned>((a >> 32) & 0xff));
    return buf;
  }

  // Creates a row, giving uuid and _ref, dropping columns the schema lacks
  // (so an older schema works too) and giving every column that has no
  // default and was not set its `empty` value.
  std::string Create(const std::string& table, FieldList fields) {
    const Table* t = db_->schema().FindTable(table);
    if (t == nullptr) return kNull;
    std::string uuid = Uuid();
    std::string ref = "OpaqueRef:" + Uuid();
    fields.emplace_back("uuid", uuid);
    fields.emplace_back("_ref", ref);
    FieldList kept;
    std::vector<char> given(t->columns.size());
    for (auto& [name, value] : fields) {
      const Column* c = t->FindColumn(name);
      if (c == nullptr || given[c->index]) continue;
      given[c->index] = 1;
      kept.emplace_back(std::move(name), std::move(value));
    }
    for (const Column& c : t->columns) {
      if (!given[c.index] && !c.default_value) kept.emplace_back(c.name, c.empty);
    }
    for (const auto& [name, value] : kept) {
      const Column* c = t->FindColumn(name);
      if (!c->persistent && c->relation == RelationSide::kNone && value != c->empty) {
        live_.push_back({table, ref, name, value});
      }
    }
    db_->LoadRow(table, ref, std::move(kept));
    return ref;
  }

  // FinishLoad fills defaults, checks uuids and builds every one-to-many set
  // once (CreateRow would update e.g. SR.VDIs row by row, quadratic in a big
  // pool). It also blanks non-persistent columns, as xapi's load does; the
  // live values a running pool shows (metrics, ...) are written back after.
  void Finish() {
    db_->FinishLoad();
    for (const LiveValue& v : live_) db_->WriteField(v.table, v.ref, v.column, v.value);
    live_.clear();
  }

  std::string MakeNetwork(int i, const std::string& label, const std::string& bridge) {
    return Create("network",
                  {{"name__label", i < 2 ? "Network " + std::to_string(i) : label},
                   {"name__description", label},
                   {"bridge", bridge},
                   {"MTU", "1500"},
                   {"other_config", PrintMap({{"automatic", i < 2 ? "true" : "false"}})},
                   {"purpose", "()"}});
  }

  std::string MakeSr(const std::string& label, const std::string& type, bool shared,
                     uint64_t size) {
    uint64_t used = size / 100 * (20 + Below(60));
    return Create("SR", {{"name__label", label},
                         {"name__description", shared ? "NFS SR [10.0.0.5:/exports/vms]" : ""},
                         {"type", type},
                         {"content_type", "user"},
                         {"shared", shared ? "true" : "false"},
                         {"physical_size", std::to_string(size)},
                         {"physical_utilisation", std::to_string(used)},
                         {"virtual_allocation", std::to_string(used + used / 3)},
                         {"other_config", PrintMap({{"auto-scan", "true"}})},
                         {"sm_config", PrintMap({{"devserial", "scsi-" + Uuid()}})},
                         {"default_vdi_visibility", "true"}});
  }

  void MakeHost(int i) {
    char name[32];
    std::snprintf(name, sizeof name, "host-%03d", i);
    Host host;
    host.index = i;
    host.name = name;
    host.local_sr = MakeSr("Local storage", "ext", false, 1800ull << 30);
    std::string metrics = Create("host_metrics", {{"memory__total", "274877906944"},
                                                  {"memory__free", "0"},
                                                  {"live", "true"},
                                                  {"last_updated", kDate},
                                                  {"other_config", "()"}});
    std::string address = "10.0." + std::to_string(i / 250) + "." + std::to_string(10 + i % 250);
    host.ref = Create(
        "host",
        {{"name__label", host.name},
         {"name__description", "Default install"},
         {"hostname", host.name},
         {"address", address},
         {"enabled", "true"},
         {"API_version__major", "2"},
         {"API_version__minor", "23"},
         {"API_version__vendor", "XenSource"},
         {"API_version__vendor_implementation", "()"},
         {"software_version",
          PrintMap({{"product_version", "8.4.0"}, {"product_brand", "XCP-ng"},
                    {"build_number", "release/yangtze/master/58"}, {"hostname", host.name},
                    {"date", "2025-02-01"}, {"xapi", "25.3"}, {"xen", "4.17.5"},
                    {"linux", "4.19.0+1"}, {"dom0", "8.4.0"}})},
         {"other_config", PrintMap({{"agent_start_time", "1740821400."},
                                    {"iscsi_iqn", "iqn.2025-03.com.example:" + host.name},
                                    {"boot_time", "1740821300."}})},
         {"capabilities", PrintSet({"xen-3.0-x86_64", "hvm-3.0-x86_32", "hvm-3.0-x86_32p",
                                    "hvm-3.0-x86_64"})},
         {"cpu_configuration", "()"},
         {"cpu_info", PrintMap({{"cpu_count", "8"}, {"socket_count", "1"},
                                {"vendor", "GenuineIntel"}, {"speed", "2600.000"}})},
         {"sched_policy", "credit"},
         {"supported_bootloaders", PrintSet({"pygrub", "eliloader"})},
         {"logging", "()"},
         {"suspend_image_sr", host.local_sr},
         {"crash_dump_sr", host.local_sr},
         {"metrics", metrics},
         {"license_params", PrintMap({{"sku_type", "free"}, {"expiry", "20380119T03:14:07Z"}})},
         {"boot_free_mem", "0"},
         {"iscsi_iqn", "iqn.2025-03.com.example:" + host.name},
         {"tags", PrintSet(i == 0 ? sexpr::StringSet{"coordinator"} : sexpr::StringSet{})}});
    for (int c = 0; c < 8; ++c) {
      Create("host_cpu",
             {{"host", host.ref},
              {"number", std::to_string(c)},
              {"vendor", "GenuineIntel"},
              {"speed", "2600"},
              {"modelname", "Intel(R) Xeon(R) Gold 6132 CPU @ 2.60GHz"},
              {"family", "6"},
              {"model", "85"},
              {"stepping", "4"},
              {"flags", "fpu de tsc msr pae mce cx8 apic sep mca cmov pat clflush acpi mmx "
                        "fxsr sse sse2 ss ht syscall nx lm constant_tsc rep_good nopl"},
              {"features", "fedab223-bffbfbff-00000121-2c100800"},
              {"utilisation", "0.0" + std::to_string(Below(9))},
              {"other_config", "()"}});
    }
    for (size_t n = 0; n < networks_.size(); ++n) {
      std::string pif_metrics = Create(
          "PIF_metrics", {{"carrier", "true"}, {"vendor_id", "8086"}, {"vendor_name", "Intel Corporation"},
                          {"device_id", "10fb"}, {"device_name", "82599ES 10-Gigabit SFI/SFP+"},
                          {"speed", "10000"}, {"duplex", "true"},
                          {"pci_bus_path", "0000:0" + std::to_string(n + 1) + ":00.0"},
                          {"last_updated", kDate}, {"other_config", "()"}});
      bool management = n == 0;
      Create("PIF", {{"device", "eth" + std::to_string(n)},
                     {"network", networks_[n]},
                     {"host", host.ref},
                     {"MAC", Mac()},
                     {"MTU", "1500"},
                     {"VLAN", "-1"},
                     {"device_name", ""},
                     {"metrics", pif_metrics},
                     {"physical", "true"},
                     {"currently_attached", "true"},
                     {"ip_configuration_mode", management ? "Static" : "None"},
                     {"IP", management ? address : ""},
                     {"netmask", management ? "255.255.0.0" : ""},
                     {"gateway", management ? "10.0.0.1" : ""},
                     {"DNS", management ? "10.0.0.2" : ""},
                     {"management", management ? "true" : "false"},
                     {"other_config", "()"}});
    }
    for (const std::string& sr : {host.local_sr, shared_sr_}) {
      bool shared = sr == shared_sr_;
      Create("PBD", {{"host", host.ref},
                     {"SR", sr},
                     {"device_config",
                      shared ? PrintMap({{"server", "10.0.0.5"}, {"serverpath", "/exports/vms"}})
                             : PrintMap({{"device", "/dev/disk/by-id/scsi-" + Uuid()}})},
                     {"currently_attached", "true"},
                     {"other_config", PrintMap({{"storage_driver_domain", kNull}})}});
    }
    MakeVm(host, "Control domain on host: " + host.name, /*control_domain=*/true);
    hosts_.push_back(host);
  }

  void MakePool() {
    Create("pool", {{"name_label", "pool-" + std::to_string(hosts_.size()) + "-hosts"},
                    {"name_description", "synthetic pool made by xgdb-gen-pool"},
                    {"master", hosts_.empty() ? kNull : hosts_[0].ref},
                    {"default_SR", shared_sr_},
                    {"suspend_image_SR", shared_sr_},
                    {"crash_dump_SR", shared_sr_},
                    {"other_config", PrintMap({{"memory-ratio-hvm", "0.25"},
                                               {"memory-ratio-pv", "0.25"},
                                               {"cpuid_feature_mask", "ffffff7f-ffffffff"}})},
                    {"wlb_password", kNull},
                    {"gui_config", PrintMap({{"pool_name", "Synthetic pool"}})}});
  }

  void MakeGuest(int i, const Host& host) {
    char name[32];
    std::snprintf(name, sizeof name, "vm-%06d", i);
    MakeVm(host, name, /*control_domain=*/false);
  }

  void MakeVm(const Host& host, const std::string& label, bool control_domain) {
    static const char* const kStates[] = {"Running", "Running", "Running", "Running", "Running",
                                          "Running", "Running", "Running", "Halted", "Suspended"};
    static const char* const kTags[] = {"production", "staging", "web", "db", "backup",
                                        "team a", "team b", "linux", "windows", "gpu"};
    static const char* const kOs[] = {"Debian Bookworm 12", "Ubuntu Noble Numbat 24.04",
                                      "Windows Server 2022 (64-bit)", "Rocky Linux 9"};
    std::string state = control_domain ? "Running" : kStates[Below(10)];
    bool running = state == "Running";
    uint64_t mem = control_domain ? (8ull << 30) : ((1ull + Below(16)) << 30);
    int vcpus = control_domain ? 8 : static_cast<int>(1 + Below(8));
    const char* os = kOs[Below(4)];
    std::string metrics = Create(
        "VM_metrics", {{"memory__actual", running ? std::to_string(mem) : "0"},
                       {"VCPUs__number", running ? std::to_string(vcpus) : "0"},
                       {"VCPUs__CPU", "()"}, {"VCPUs__params", "()"}, {"VCPUs__flags", "()"},
                       {"state", "()"}, {"start_time", kDate}, {"install_time", kDate},
                       {"last_updated", kDate}, {"other_config", "()"},
                       {"current_domain_type", running ? "hvm" : "unspecified"}});
    std::string guest_metrics = kNull;
    if (running && !control_domain) {
      guest_metrics = Create(
          "VM_guest_metrics",
          {{"os_version", PrintMap({{"name", os}, {"distro", "debian"}, {"major", "12"}})},
           {"PV_drivers_version", PrintMap({{"major", "9"}, {"minor", "3"}, {"micro", "3"}})},
           {"PV_drivers_up_to_date", "true"},
           {"networks", PrintMap({{"0/ip", "10.1." + std::to_string(Below(250)) + "." +
                                               std::to_string(Below(250))}})},
           {"other", PrintMap({{"feature-suspend", "1"}, {"has-vendor-device", "0"}})},
           {"last_updated", kDate},
           {"live", "true"}});
    }
    sexpr::StringSet tags;
    // A set holds each element once (git stores a set as a directory).
    for (uint64_t n = control_domain ? 0 : Below(4); n > 0; --n) {
      std::string tag = kTags[Below(10)];
      if (std::find(tags.begin(), tags.end(), tag) == tags.end()) tags.push_back(tag);
    }
    std::string vm = Create(
        "VM",
        {{"name__label", label},
         {"name__description", control_domain ? "The domain which manages physical devices"
                                              : std::string("Synthetic guest running ") + os},
         {"power_state", state},
         {"user_version", "1"},
         {"is_a_template", "false"},
         {"is_control_domain", control_domain ? "true" : "false"},
         {"resident_on", running || state == "Suspended" ? host.ref : kNull},
         {"affinity", host.ref},
         {"memory__static_max", std::to_string(mem)},
         {"memory__dynamic_max", std::to_string(mem)},
         {"memory__dynamic_min", std::to_string(mem)},
         {"memory__static_min", std::to_string(mem / 2)},
         {"memory__target", running ? std::to_string(mem) : "0"},
         {"VCPUs__params", "()"},
         {"VCPUs__max", std::to_string(vcpus)},
         {"VCPUs__at_startup", std::to_string(vcpus)},
         {"actions__after_shutdown", "destroy"},
         {"actions__after_reboot", "restart"},
         {"actions__after_crash", "restart"},
         {"PV__bootloader", ""}, {"PV__kernel", ""}, {"PV__ramdisk", ""}, {"PV__args", ""},
         {"PV__bootloader_args", ""}, {"PV__legacy_args", ""},
         {"HVM__boot_policy", control_domain ? "" : "BIOS order"},
         {"HVM__boot_params", control_domain ? "()" : PrintMap({{"order", "cdn"}})},
         {"platform", control_domain ? "()"
                                     : PrintMap({{"timeoffset", "0"}, {"device-model", "qemu-upstream-uefi"},
                                                 {"viridian", "true"}, {"acpi", "1"},
                                                 {"apic", "true"}, {"pae", "true"},
                                                 {"nx", "true"}, {"cores-per-socket", "1"}})},
         {"PCI_bus", ""},
         {"other_config",
          control_domain ? PrintMap({{"storage_driver_domain", "OpaqueRef:" + Uuid()}})
                         : PrintMap({{"base_template_name", "Debian Bookworm 12"},
                                     {"import_task", kNull},
                                     {"mac_seed", Uuid()},
                                     {"install-methods", "cdrom,nfs,http,ftp"},
                                     {"linux_template", "true"}})},
         {"domid", running ? std::to_string(control_domain ? 0 : 1 + Below(30000)) : "-1"},
         {"domarch", running ? "x64" : ""},
         {"metrics", metrics},
         {"guest_metrics", guest_metrics},
         {"recommendations",
          "<restrictions><restriction field=\"memory-static-max\" max=\"1649267441664\"/>"
          "<restriction field=\"vcpus-max\" max=\"32\"/><restriction property=\"number-of-vbds\" "
          "max=\"255\"/><restriction property=\"number-of-vifs\" max=\"7\"/></restrictions>"},
         {"tags", PrintSet(tags)},
         {"domain_type", control_domain ? "pv" : "hvm"}});
    if (control_domain) return;

    int disks = 1 + static_cast<int>(Below(2));
    for (int d = 0; d < disks; ++d) {
      uint64_t size = (8ull + Below(120)) << 30;
      std::string sr = Below(2) ? shared_sr_ : host.local_sr;
      std::string vdi = Create(
          "VDI", {{"name__label", label + " disk " + std::to_string(d)},
                  {"name__description", "Created by template provisioner"},
                  {"SR", sr},
                  {"virtual_size", std::to_string(size)},
                  {"physical_utilisation", std::to_string(size / 100 * (5 + Below(90)))},
                  {"type", d == 0 ? "system" : "user"},
                  {"sharable", "false"},
                  {"read_only", "false"},
                  {"other_config", d == 0 ? PrintMap({{"content_id", Uuid()}}) : "()"},
                  {"storage_lock", "false"},
                  {"managed", "true"},
                  {"missing", "false"},
                  {"parent", kNull},
                  {"location", Uuid()},
                  {"sm_config", PrintMap({{"vdi_type", "vhd"}, {"vhd-parent", Uuid()}})}});
      MakeVbd(vm, vdi, std::to_string(d), "Disk", running);
    }
    MakeVbd(vm, kNull, "3", "CD", running);
    int vifs = 1 + static_cast<int>(Below(2));
    for (int n = 0; n < vifs; ++n) {
      Create("VIF", {{"device", std::to_string(n)},
                     {"network", networks_[static_cast<size_t>(n)]},
                     {"VM", vm},
                     {"MAC", Mac()},
                     {"MTU", "1500"},
                     {"reserved", "false"},
                     {"currently_attached", running ? "true" : "false"},
                     {"other_config", "()"},
                     {"status_code", "0"},
                     {"status_detail", ""},
                     {"runtime_properties", "()"},
                     {"qos__algorithm_type", ""},
                     {"qos__algorithm_params", "()"},
                     {"qos__supported_algorithms", "()"},
                     {"locking_mode", "network_default"}});
    }
    if (running) {
      Create("console", {{"protocol", "rfb"},
                         {"location", "https://" + host.name + "/console?uuid=" + Uuid()},
                         {"VM", vm},
                         {"other_config", PrintMap({{"vncport", std::to_string(5900 + Below(100))}})},
                         {"port", std::to_string(5900 + Below(100))}});
    }
  }

  void MakeVbd(const std::string& vm, const std::string& vdi, const std::string& userdevice,
               const std::string& type, bool running) {
    bool cd = type == "CD";
    Create("VBD", {{"VM", vm},
                   {"VDI", vdi},
                   {"userdevice", userdevice},
                   {"device", cd ? "xvdd" : std::string("xvd") + static_cast<char>('a' + userdevice[0] - '0')},
                   {"bootable", userdevice == "0" ? "true" : "false"},
                   {"mode", cd ? "RO" : "RW"},
                   {"type", type},
                   {"unpluggable", "true"},
                   {"storage_lock", "false"},
                   {"empty", cd ? "true" : "false"},
                   {"currently_attached", running ? "true" : "false"},
                   {"other_config", cd ? "()" : PrintMap({{"owner", "true"}})},
                   {"status_code", "0"},
                   {"status_detail", ""},
                   {"runtime_properties", "()"},
                   {"qos__algorithm_type", ""},
                   {"qos__algorithm_params", "()"},
                   {"qos__supported_algorithms", "()"}});
  }

  Database* db_;
  std::mt19937_64 rng_;
  std::vector<std::string> networks_;
  std::string shared_sr_;
  std::vector<Host> hosts_;
  std::vector<LiveValue> live_;
};

int Main(int argc, char** argv) {
  CLI::App app{"Writes a synthetic, schema-valid xapi state.db (newest schema by default)."};
  int hosts = 2, vms_per_host = 10, vms = -1;
  uint64_t seed = 1;
  std::string out = "state.db", schema_file;
  bool gzip = false;
  app.add_option("--hosts", hosts, "number of hosts")->check(CLI::Range(1, 100000));
  app.add_option("--vms-per-host", vms_per_host, "guest VMs per host")->check(CLI::Range(0, 1000000));
  app.add_option("--vms", vms, "guest VMs in total (overrides --vms-per-host)")
      ->check(CLI::Range(0, 100000000));
  app.add_option("--seed", seed, "random seed; the same seed gives the same file");
  app.add_option("--out", out, "file to write (replaced atomically)");
  app.add_option("--schema", schema_file, "schema JSON file (default: the newest shipped)");
  app.add_flag("--gzip", gzip, "write the file gzip-compressed");
  CLI11_PARSE(app, argc, argv);

  try {
    auto start = std::chrono::steady_clock::now();
    auto schema = schema_file.empty() ? Schema::Newest() : Schema::LoadFile(schema_file);
    Database db(schema);
    PoolGenerator gen(&db, seed);
    int total_vms = vms >= 0 ? vms : hosts * vms_per_host;
    gen.Generate(hosts, total_vms);
    auto generated = std::chrono::steady_clock::now();
    // A plausible generation count: a little more than one change per row.
    int64_t generation = static_cast<int64_t>(db.TotalRows()) * 3 + 17;
    std::string text = FormatStateDb(db, generation);
    size_t file_size = text.size();
    if (gzip) {
      std::string packed = statedb::Gzip(text);
      file_size = packed.size();
      statedb::WriteFileAtomically(out, packed);
    } else {
      statedb::WriteFileAtomically(out, text);
    }
    auto done = std::chrono::steady_clock::now();
    auto secs = [](auto a, auto b) { return std::chrono::duration<double>(b - a).count(); };
    std::printf("%s: schema %d.%d, %d hosts, %d guest VMs, %zu rows, %zu bytes of XML, "
                "%zu bytes written (generate %.2fs, format and write %.2fs)\n",
                out.c_str(), schema->major_version(), schema->minor_version(), hosts, total_vms,
                db.TotalRows(), text.size(), file_size, secs(start, generated),
                secs(generated, done));
  } catch (const Error& e) {
    std::fprintf(stderr, "xgdb-gen-pool: %s\n", e.what());
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace xgdb

int main(int argc, char** argv) { return xgdb::Main(argc, argv); }
