// Small helpers shared by the tests: scratch directories, test data, running
// the real binaries and the plain `git` command.
#ifndef XGDB_TESTS_SUPPORT_PATHS_H_
#define XGDB_TESTS_SUPPORT_PATHS_H_

#include <string>

namespace xgdb::test {

// A fresh directory under $TMPDIR (or /tmp), removed with its contents when
// the object dies (unless XGDB_KEEP_TEST_DIRS is set in the environment).
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// tests/data/<name>.
std::string DataPath(const std::string& name);
// <build dir>/<name>, e.g. BinaryPath("xapi-gitdb").
std::string BinaryPath(const std::string& name);
std::string ReadFile(const std::string& path);
void WriteFile(const std::string& path, const std::string& contents);

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};
// Runs `command` with /bin/sh and collects its output.
CommandResult Run(const std::string& command);
// Quotes a string for /bin/sh.
std::string ShellQuote(const std::string& s);
// A self-signed P-256 certificate naming `name` and its key, as PEM files
// (with the openssl command); the command's result.
CommandResult MakeCertificate(const std::string& name, const std::string& cert_file,
                              const std::string& key_file);

}  // namespace xgdb::test

#endif  // XGDB_TESTS_SUPPORT_PATHS_H_
