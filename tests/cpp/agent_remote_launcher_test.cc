// Remote ranks without a remote: node-spec runners, the exact ssh and srun
// command lines, how their exits are read, and the ssh wrapper itself run by a
// local /bin/sh exactly as the node's login shell would run it.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "agent/launcher.h"
#include "agent/node_spec.h"
#include "agent/remote_launcher.h"
#include "common/strings.h"
#include "skycore/error.h"

namespace skycore::agent {
namespace {

namespace fs = std::filesystem;

std::string FieldOfError(const std::string& spec) {
  try {
    ParseNodeSpec(spec);
  } catch (const InvalidSkyPilotConfigError& error) {
    return error.field_path();
  }
  return "<accepted>";
}

TEST(AgentRunnerSpecTest, ParsesEachKind) {
  NodeSpec spec = ParseNodeSpec(R"({"nodes": [
      {"workdir": "/w0"},
      {"workdir": "/w1", "runner": {"kind": "ssh", "address": "127.0.0.3", "port": 2222,
        "user": "root", "identity_file": "/k/id", "known_hosts": "/k/kh"}},
      {"workdir": "/w2", "runner": {"kind": "ssh", "address": "h"}},
      {"workdir": "/w3", "runner": {"kind": "srun", "job_id": "1234", "node_name": "n1"}},
      {"workdir": "/w4", "runner": {"kind": "srun", "job_id": "7", "node_name": "n2",
        "srun": "/opt/slurm/bin/srun"}},
      {"workdir": "/w5", "runner": {"kind": "local"}}]})");
  ASSERT_EQ(spec.nodes.size(), 6u);
  EXPECT_EQ(spec.nodes[0].runner.kind, RankRunner::Kind::kLocal);
  const RankRunner& ssh = spec.nodes[1].runner;
  EXPECT_EQ(ssh.kind, RankRunner::Kind::kSsh);
  EXPECT_EQ(ssh.address, "127.0.0.3");
  EXPECT_EQ(ssh.port, 2222);
  EXPECT_EQ(ssh.user, "root");
  EXPECT_EQ(ssh.identity_file, "/k/id");
  EXPECT_EQ(ssh.known_hosts, "/k/kh");
  EXPECT_EQ(spec.nodes[2].runner.port, 22);
  EXPECT_EQ(spec.nodes[2].runner.user, "");
  EXPECT_EQ(spec.nodes[3].runner.kind, RankRunner::Kind::kSrun);
  EXPECT_EQ(spec.nodes[3].runner.job_id, "1234");
  EXPECT_EQ(spec.nodes[3].runner.node_name, "n1");
  EXPECT_EQ(spec.nodes[3].runner.srun_program, "srun");
  EXPECT_EQ(spec.nodes[4].runner.srun_program, "/opt/slurm/bin/srun");
  EXPECT_EQ(spec.nodes[5].runner.kind, RankRunner::Kind::kLocal);
}

TEST(AgentRunnerSpecTest, ErrorsNameTheField) {
  EXPECT_EQ(FieldOfError(R"({"nodes": [{"workdir": "/w", "runner": "ssh"}]})"), "nodes[0].runner");
  EXPECT_EQ(FieldOfError(R"({"nodes": [{"workdir": "/w"}, {"workdir": "/w",
                "runner": {"kind": "telnet"}}]})"),
            "nodes[1].runner.kind");
  EXPECT_EQ(FieldOfError(R"({"nodes": [{"workdir": "/w", "runner": {}}]})"),
            "nodes[0].runner.kind");
  EXPECT_EQ(FieldOfError(R"({"nodes": [{"workdir": "/w", "runner": {"kind": "ssh"}}]})"),
            "nodes[0].runner.address");
  EXPECT_EQ(FieldOfError(R"({"nodes": [{"workdir": "/w",
                "runner": {"kind": "ssh", "address": "h", "port": "22"}}]})"),
            "nodes[0].runner.port");
  EXPECT_EQ(FieldOfError(R"({"nodes": [{"workdir": "/w",
                "runner": {"kind": "ssh", "address": "h", "port": 70000}}]})"),
            "nodes[0].runner.port");
  EXPECT_EQ(FieldOfError(R"({"nodes": [{"workdir": "/w",
                "runner": {"kind": "ssh", "address": "h", "identity_file": "id"}}]})"),
            "nodes[0].runner.identity_file");
  EXPECT_EQ(FieldOfError(R"({"nodes": [{"workdir": "/w",
                "runner": {"kind": "ssh", "address": "-oProxyCommand=x"}}]})"),
            "nodes[0].runner.address");
  EXPECT_EQ(FieldOfError(R"({"nodes": [{"workdir": "/w",
                "runner": {"kind": "srun", "job_id": "1"}}]})"),
            "nodes[0].runner.node_name");
  EXPECT_EQ(FieldOfError(R"({"nodes": [{"workdir": "/w",
                "runner": {"kind": "srun", "job_id": 1, "node_name": "n"}}]})"),
            "nodes[0].runner.job_id");
}

RankLaunchRequest SshRequest() {
  RankLaunchRequest request;
  request.script = "echo hi";
  request.working_dir = "/work dir";
  request.env = {"A=1", "B=it's"};
  request.runner.kind = RankRunner::Kind::kSsh;
  request.runner.address = "127.0.0.3";
  request.runner.port = 2200;
  request.runner.user = "root";
  request.runner.identity_file = "/k/id";
  request.runner.known_hosts = "/k/kh";
  return request;
}

TEST(AgentSshCommandTest, CommandLine) {
  RankLaunchRequest request = SshRequest();
  std::vector<std::string> argv = SshCommandLine(request);
  std::vector<std::string> expected = {"ssh",
                                       "-F",
                                       "/dev/null",
                                       "-T",
                                       "-i",
                                       "/k/id",
                                       "-o",
                                       "IdentitiesOnly=yes",
                                       "-p",
                                       "2200",
                                       "-o",
                                       "BatchMode=yes",
                                       "-o",
                                       "StrictHostKeyChecking=accept-new",
                                       "-o",
                                       "UserKnownHostsFile=/k/kh",
                                       "-o",
                                       "ConnectTimeout=10",
                                       "-o",
                                       "ServerAliveInterval=2",
                                       "-o",
                                       "ServerAliveCountMax=3",
                                       "-o",
                                       "LogLevel=ERROR",
                                       "root@127.0.0.3",
                                       SshRemoteCommand(request)};
  EXPECT_EQ(argv, expected);
  EXPECT_EQ(SshRemoteCommand(request).rfind("exec env -i -- /bin/bash --norc --noprofile -c '", 0),
            0u);
  // The environment travels on stdin, not on any command line (ps shows those).
  for (const auto& arg : argv) {
    EXPECT_EQ(arg.find("A=1"), std::string::npos) << arg;
    EXPECT_EQ(arg.find("B=it"), std::string::npos) << arg;
  }
  EXPECT_EQ(EnvironmentBlock(request.env), std::string("A=1\0B=it's\0\0", 12));
  EXPECT_EQ(EnvironmentBlock({"=x", "NOEQUALS", "C=a\nb"}), std::string("C=a\nb\0\0", 7));
  EXPECT_NE(SshRemoteCommand(request).find(" skycore-rank '/work dir' 'echo hi'"),
            std::string::npos);

  request.runner.user.clear();
  request.runner.identity_file.clear();
  request.runner.known_hosts.clear();
  argv = SshCommandLine(request, "/usr/bin/ssh");
  EXPECT_EQ(argv.front(), "/usr/bin/ssh");
  EXPECT_EQ(argv[argv.size() - 2], "127.0.0.3");
  for (const auto& arg : argv) {
    EXPECT_EQ(arg.find("UserKnownHostsFile"), std::string::npos);
    EXPECT_NE(arg, "-i");
  }
}

TEST(AgentSshCommandTest, ShellQuoteSurvivesAShell) {
  std::string awkward = "a'b\"c $HOME `id` \\ \n line2 '' !x";
  std::string command =
      "printf %s " + strings::ShellQuote(awkward) + " > " + strings::ShellQuote("/dev/stdout");
  FILE* pipe = ::popen(("/bin/sh -c " + strings::ShellQuote(command)).c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string out;
  char buffer[256];
  size_t got;
  while ((got = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) out.append(buffer, got);
  EXPECT_EQ(::pclose(pipe), 0);
  EXPECT_EQ(out, awkward);
}

TEST(AgentSshCommandTest, ReadsExitsAndLostConnections) {
  // The script's own code wins, even 255.
  RankOutcome outcome = InterpretSshExit(255, "skycore-rank-started\nskycore-rank-exit 255\n");
  EXPECT_EQ(outcome.exit_code, 255);
  EXPECT_FALSE(outcome.node_lost);
  outcome = InterpretSshExit(3, "skycore-rank-started\nskycore-rank-exit 3\n");
  EXPECT_EQ(outcome.exit_code, 3);
  EXPECT_FALSE(outcome.node_lost);

  outcome = InterpretSshExit(
      255, "skycore-rank-started\nConnection to 127.0.0.3 closed by remote host.\n");
  ASSERT_TRUE(outcome.node_lost);
  EXPECT_EQ(*outcome.node_lost,
            "ssh: connection lost: Connection to 127.0.0.3 closed by remote host.");
  outcome = InterpretSshExit(255, "ssh: connect to host 127.0.0.9 port 22: Connection refused\n");
  ASSERT_TRUE(outcome.node_lost);
  EXPECT_EQ(*outcome.node_lost,
            "ssh: could not reach the node: ssh: connect to host 127.0.0.9 port 22: Connection "
            "refused");
  // Killed by the agent: not a lost node.
  outcome = InterpretSshExit(137, "skycore-rank-started\n");
  EXPECT_EQ(outcome.exit_code, 137);
  EXPECT_FALSE(outcome.node_lost);
}

TEST(AgentSrunCommandTest, CommandLineAndExits) {
  RankLaunchRequest request;
  request.script = "echo hi";
  request.working_dir = "/w";
  request.runner.kind = RankRunner::Kind::kSrun;
  request.runner.job_id = "1234";
  request.runner.node_name = "n1";
  std::vector<std::string> expected = {
      "srun",      "--jobid=1234", "--overlap",         "-N1",          "-n1",
      "-w",        "n1",           "--chdir=/w",        "--export=ALL", "--quiet",
      "/bin/bash", "-c",           "exec 2>&1\necho hi"};
  EXPECT_EQ(SrunCommandLine(request), expected);
  request.runner.srun_program = "/opt/slurm/bin/srun";
  EXPECT_EQ(SrunCommandLine(request).front(), "/opt/slurm/bin/srun");

  RankOutcome outcome = InterpretSrunExit(1, "srun: error: Node failure on n1\n");
  ASSERT_TRUE(outcome.node_lost);
  EXPECT_EQ(*outcome.node_lost, "srun: Node failure on n1");
  outcome = InterpretSrunExit(
      1, "srun: error: Unable to create step for job 1234: Job/step already completing\n");
  EXPECT_TRUE(outcome.node_lost);
  outcome = InterpretSrunExit(3, "srun: error: n1: task 0: Exited with exit code 3\n");
  EXPECT_EQ(outcome.exit_code, 3);
  EXPECT_FALSE(outcome.node_lost);
  EXPECT_FALSE(InterpretSrunExit(0, "srun: error: Node failure on n1\n").node_lost);
  // The allocation ended under the step.
  outcome = InterpretSrunExit(
      143, "slurmstepd: error: *** STEP 7.3 ON n1 CANCELLED AT 2026-11-25T10:00:00 ***\n");
  ASSERT_TRUE(outcome.node_lost.has_value());
  EXPECT_NE(outcome.node_lost->find("CANCELLED AT"), std::string::npos);
  outcome = InterpretSrunExit(
      143,
      "slurmstepd: error: *** STEP 7.3 ON n1 CANCELLED AT 2026-11-25T10:00:00 DUE TO TIME "
      "LIMIT ***\n");
  EXPECT_TRUE(outcome.node_lost.has_value());
}

TEST(AgentRunnerSpecTest, ParsesKubernetesRunners) {
  NodeSpec spec = ParseNodeSpec(R"({"nodes": [{"workdir": "/w0"},
      {"workdir": "/w1", "runner": {"kind": "kubernetes", "namespace": "team", "pod": "c-worker1",
        "container": "ray-node", "kubeconfig": "/k/config", "context": "ctx"}},
      {"workdir": "/w2", "runner": {"kind": "kubernetes", "namespace": "default",
        "pod": "c-worker2", "kubeconfig": "/k/config"}}]})");
  const RankRunner& pod = spec.nodes[1].runner;
  EXPECT_EQ(pod.kind, RankRunner::Kind::kKubernetes);
  EXPECT_EQ(pod.namespace_name, "team");
  EXPECT_EQ(pod.pod, "c-worker1");
  EXPECT_EQ(pod.container, "ray-node");
  EXPECT_EQ(pod.kubeconfig, "/k/config");
  EXPECT_EQ(pod.context, "ctx");
  EXPECT_EQ(spec.nodes[2].runner.container, "");
  EXPECT_EQ(spec.nodes[2].runner.context, "");

  EXPECT_EQ(FieldOfError(R"({"nodes": [{"workdir": "/w", "runner": {"kind": "kubernetes",
                "namespace": "n", "kubeconfig": "/k"}}]})"),
            "nodes[0].runner.pod");
  EXPECT_EQ(FieldOfError(R"({"nodes": [{"workdir": "/w", "runner": {"kind": "kubernetes",
                "namespace": "n", "pod": "p"}}]})"),
            "nodes[0].runner.kubeconfig");
  EXPECT_EQ(FieldOfError(R"({"nodes": [{"workdir": "/w", "runner": {"kind": "kubernetes",
                "namespace": "n", "pod": "p", "kubeconfig": "kube/config"}}]})"),
            "nodes[0].runner.kubeconfig");
}

TEST(AgentKubernetesCommandTest, CommandLineAndExits) {
  RankLaunchRequest request;
  request.script = "echo hi";
  request.working_dir = "/w";
  request.env = {"A=1", "B=it's"};
  request.runner.kind = RankRunner::Kind::kKubernetes;
  request.runner.namespace_name = "team";
  request.runner.pod = "c-worker1";
  request.runner.container = "ray-node";
  request.runner.kubeconfig = "/k/config";
  request.runner.context = "ctx";
  const auto argv = KubernetesCommandLine(request, "/bin/skyletd");
  const std::vector<std::string> head = {
      "/bin/skyletd", "kexec",     "--kubeconfig", "/k/config",   "--namespace", "team", "--pod",
      "c-worker1",    "--context", "ctx",          "--container", "ray-node",    "--",   "env",
      "-i",           "--",        "/bin/bash",    "--norc",      "--noprofile", "-c"};
  ASSERT_GT(argv.size(), head.size() + 3);
  for (const auto& arg : argv) EXPECT_EQ(arg.find("B=it"), std::string::npos) << arg;
  EXPECT_EQ(std::vector<std::string>(argv.begin(), argv.begin() + head.size()), head);
  EXPECT_EQ(std::vector<std::string>(argv.end() - 3, argv.end()),
            (std::vector<std::string>{"skycore-rank", "/w", "echo hi"}));

  // The script's own code wins, even 255.
  RankOutcome outcome =
      InterpretKubernetesExit(255, "skycore-rank-started\nskycore-rank-exit 255\n");
  EXPECT_EQ(outcome.exit_code, 255);
  EXPECT_FALSE(outcome.node_lost);
  // Without the exit marker the wrapper did not finish: whatever the code,
  // the pod or the stream went away.
  outcome = InterpretKubernetesExit(143, "skycore-rank-started\n");
  ASSERT_TRUE(outcome.node_lost);
  EXPECT_EQ(*outcome.node_lost, "kubernetes exec: the stream to the pod ended early");
  outcome = InterpretKubernetesExit(
      255, "skyletd kexec: Kubernetes context 'c': exec in pod team/p refused (HTTP 404): x\n");
  ASSERT_TRUE(outcome.node_lost);
  EXPECT_EQ(*outcome.node_lost,
            "kubernetes exec: could not run in the pod: skyletd kexec: Kubernetes context 'c': "
            "exec in pod team/p refused (HTTP 404): x");
}

// Runs the ssh remote command under a local /bin/sh, the way sshd would run it
// in the node's login shell; stdin is a socket the test holds.
class SshWrapperRun {
 public:
  explicit SshWrapperRun(const RankLaunchRequest& request) {
    int control[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, control), 0);
    control_fd_ = control[0];
    stderr_path_ = fs::temp_directory_path() / ("skycore-wrapper-" + std::to_string(::getpid()));
    int stderr_fd = ::open(stderr_path_.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    launched_ = SpawnInNewSession({"/bin/sh", "-c", SshRemoteCommand(request)},
                                  {"PATH=/usr/bin:/bin"}, "", control[1], stderr_fd, "the wrapper");
    ::close(control[1]);
    ::close(stderr_fd);
    Send(EnvironmentBlock(request.env));  // as SshRankLauncher does
  }
  ~SshWrapperRun() {
    if (control_fd_ >= 0) ::close(control_fd_);
    ::close(launched_.output_fd);
    if (!reaped_) {
      ::kill(-launched_.pid, SIGKILL);
      ::waitpid(launched_.pid, nullptr, 0);
    }
    fs::remove(stderr_path_);
  }
  void Send(const std::string& line) {
    ASSERT_EQ(::send(control_fd_, line.data(), line.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(line.size()));
  }
  void CloseStdin() {
    ::close(control_fd_);
    control_fd_ = -1;
  }
  // Output until `text` appears (or EOF, or 10 s).
  std::string ReadUntil(const std::string& text) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (output_.find(text) == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      pollfd ready{launched_.output_fd, POLLIN, 0};
      if (::poll(&ready, 1, 100) <= 0) continue;
      char buffer[4096];
      ssize_t got = ::read(launched_.output_fd, buffer, sizeof(buffer));
      if (got <= 0) break;
      output_.append(buffer, static_cast<size_t>(got));
    }
    return output_;
  }
  // The wrapper's exit code; -1 when it has not exited within 10 s.
  int Wait() {
    ReadUntil("\x01never");  // to EOF
    for (int tries = 0; tries < 1000; ++tries) {
      int status = 0;
      if (::waitpid(launched_.pid, &status, WNOHANG) == launched_.pid) {
        reaped_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      ::usleep(10000);
    }
    return -1;
  }
  std::string Stderr() const {
    std::ifstream file(stderr_path_);
    std::stringstream text;
    text << file.rdbuf();
    return text.str();
  }

 private:
  LaunchedRank launched_;
  int control_fd_ = -1;
  fs::path stderr_path_;
  std::string output_;
  bool reaped_ = false;
};

TEST(AgentSshWrapperTest, SetsExactlyTheEnvironmentAndCwdAndReportsTheExit) {
  fs::path dir = fs::temp_directory_path() / "skycore wrapper 'dir'";
  fs::create_directories(dir);
  RankLaunchRequest request = SshRequest();
  request.working_dir = dir.string();
  std::string awkward = "it's \"quoted\" $HOME `id` \\\nsecond line";
  request.env = {"AWKWARD=" + awkward, "PATH=/usr/bin:/bin", "SKYPILOT_NODE_RANK=1"};
  request.script =
      "pwd; printf '[%s]\\n' \"$AWKWARD\"; echo rank=$SKYPILOT_NODE_RANK; "
      "echo on-stderr >&2; echo keys $(env | grep -o '^[A-Z_]*=' | sort | tr -d '\\n'); exit 255";
  SshWrapperRun run(request);
  int code = run.Wait();
  std::string out = run.ReadUntil("");
  EXPECT_EQ(code, 255);
  EXPECT_NE(out.find(dir.string() + "\n"), std::string::npos) << out;
  EXPECT_NE(out.find("[" + awkward + "]\n"), std::string::npos) << out;
  EXPECT_NE(out.find("rank=1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("on-stderr\n"), std::string::npos) << out;
  // Nothing of the caller's environment: only the request's, and what bash sets.
  EXPECT_NE(out.find("keys AWKWARD=OLDPWD=PATH=PWD=SHLVL=SKYPILOT_NODE_RANK=_=\n"),
            std::string::npos)
      << out;
  RankOutcome outcome = InterpretSshExit(code, run.Stderr());
  EXPECT_EQ(outcome.exit_code, 255);
  EXPECT_FALSE(outcome.node_lost) << run.Stderr();
  fs::remove_all(dir);
}

TEST(AgentSshWrapperTest, EndOfStdinKillsTheRanksGroup) {
  RankLaunchRequest request = SshRequest();
  request.working_dir = "/";
  request.env = {"PATH=/usr/bin:/bin"};
  request.script = "trap '' TERM; sleep 60 & echo started; wait; echo never";
  SshWrapperRun run(request);
  ASSERT_NE(run.ReadUntil("started\n").find("started\n"), std::string::npos);
  auto begin = std::chrono::steady_clock::now();
  run.CloseStdin();
  // TERM is ignored, so it takes the KILL 3 s later.
  int code = run.Wait();
  EXPECT_EQ(code, 128 + SIGKILL);
  EXPECT_GE(std::chrono::steady_clock::now() - begin, std::chrono::milliseconds(2500));
  EXPECT_EQ(run.ReadUntil("").find("never"), std::string::npos);
  EXPECT_NE(run.Stderr().find("skycore-rank-exit 137"), std::string::npos) << run.Stderr();
}

TEST(AgentSshWrapperTest, SignalsTravelThroughStdin) {
  RankLaunchRequest request = SshRequest();
  request.working_dir = "/";
  request.env = {"PATH=/usr/bin:/bin"};
  request.script = "trap 'echo got-int; exit 5' INT; echo started; sleep 60 & wait";
  SshWrapperRun run(request);
  ASSERT_NE(run.ReadUntil("started\n").find("started\n"), std::string::npos);
  run.Send("2\n");
  EXPECT_NE(run.ReadUntil("got-int").find("got-int"), std::string::npos);
  EXPECT_EQ(run.Wait(), 5);
}

}  // namespace
}  // namespace skycore::agent
