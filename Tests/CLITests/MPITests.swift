// Data parallelism over MPI: `mpirun -n 2 modelfool ...` against one process. Skipped (with a
// note) when Open MPI's `mpirun` is missing; `make test` installs it (openmpi-bin).

import Foundation
import ModelFoolData
import Testing

enum MPI {
  /// `name` on the PATH (or in /usr/sbin and /sbin), or nil.
  static func executable(_ name: String) -> String? {
    let paths = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin"]
    return paths.map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
  }

  static let mpirun = executable("mpirun")

  /// Two ranks on this machine (as root too, more ranks than cores allowed), quiet banners.
  static var twoRanks: [String] { [mpirun ?? "mpirun", "--allow-run-as-root", "--oversubscribe", "-n", "2"] }

  /// Every weight of two checkpoints: the largest `|a - b| / max|b|` over the tensors (each
  /// tensor's difference relative to its largest weight).
  static func maxRelativeDifference(_ a: String, _ b: String) throws -> Float {
    let fa = try HDF5File.open(a), fb = try HDF5File.open(b)
    let paths = try fa.datasetPaths().filter { fa.isDataset($0) && (try? fa.readFloats(at: $0)) != nil }
    #expect(try paths == fb.datasetPaths().filter { fb.isDataset($0) && (try? fb.readFloats(at: $0)) != nil })
    var worst: Float = 0
    for path in paths {
      let x = try fa.readFloats(at: path).values, y = try fb.readFloats(at: path).values
      let scale = max(y.map(abs).max() ?? 0, 1e-12)
      worst = max(worst, (zip(x, y).map { abs($0 - $1) }.max() ?? 0) / scale)
    }
    return worst
  }

  /// Runs `arguments` (through `launcher`) and throws with its standard error when it fails.
  @discardableResult
  static func succeed(_ arguments: [String], in folder: String, environment: [String: String] = [:], launcher: [String] = []) throws -> CLIRun {
    let r = try CLI.run(arguments, in: folder, environment: environment, launcher: launcher)
    guard r.status == 0 else { throw CLIError("modelfool \(arguments.joined(separator: " ")) failed (\(r.status)): \(r.stderr)") }
    return r
  }

  /// 20 steps of the digits CNN's Grad-CAM fine-tuning (location), global batch 8, 150 held-out
  /// examples scored at the end (3 batches, so that 2 ranks each score some).
  static let fineTune = ["finetune", "--dataset", "digits", "--model", "d.h5", "--objective", "location", "--steps", "20",
                         "--batch-size", "8", "--methods", "gradcam", "--eval-count", "150", "--allow-divergence", "--threads", "1",
                         "--json", "--checkpoint-every", "10"]

  /// Gradient buckets of 64 KiB: the digits CNN's 188 KB of gradients travel in several.
  static let smallBuckets = ["MODELFOOL_MPI_BUCKET_BYTES": "65536", "MODELFOOL_MPI_STATS": "1"]

  /// What the tests share, made once and removed when the test process exits: in its folder
  /// `d.h5` (the digits base, 1 epoch), `one/` (``fineTune`` by one process) and `two/` (the
  /// same by 2 ranks with ``smallBuckets``), both with their state saved after step 10; `two`
  /// is the 2-rank run's output.
  struct Fixture {
    var folder: String
    var two: CLIRun
  }

  static let fixtureFolder = NSTemporaryDirectory() + "modelfool-mpi-\(getpid())"

  static let fixture: Result<Fixture, CLIError> = {
    do {
      try FileManager.default.createDirectory(atPath: fixtureFolder, withIntermediateDirectories: true)
      atexit { try? FileManager.default.removeItem(atPath: MPI.fixtureFolder) }
      try succeed(["train", "--dataset", "digits", "--epochs", "1", "--out", "d.h5", "--threads", "1"], in: fixtureFolder)
      try succeed(fineTune + ["--out", "one"], in: fixtureFolder)
      let two = try succeed(
        fineTune + ["--out", "two"], in: fixtureFolder, environment: smallBuckets,
        launcher: twoRanks + ["-x", "MODELFOOL_MPI_BUCKET_BYTES", "-x", "MODELFOOL_MPI_STATS"])
      return .success(Fixture(folder: fixtureFolder, two: two))
    } catch {
      return .failure(error as? CLIError ?? CLIError("\(error)"))
    }
  }()
}

@Suite("modelfool over MPI", .enabled(if: MPI.mpirun != nil, "mpirun is missing: install openmpi-bin (make setup) to run the MPI tests"))
struct MPITests {
  /// 20 fine-tuning steps, global batch 8: two ranks of 4 rows each reach the weights of one
  /// process of 8. Not bit-identical: each rank's gradient is the mean over its 4 rows, and their
  /// weighted sum rounds otherwise than one mean over 8. The gradients travel in several buckets.
  @Test func twoRanksFineTuneAsOneProcess() throws {
    let fixture = try MPI.fixture.get()
    let folder = fixture.folder
    let difference = try MPI.maxRelativeDifference(folder + "/one/model.h5", folder + "/two/model.h5")
    print("MPI fine-tuning, 2 ranks vs 1 process after 20 steps: max relative weight difference \(difference)")
    #expect(difference < 1e-5)
    // Rank 0 alone printed: one JSON object.
    #expect(fixture.two.stdout.split(separator: "\n").count == 1)
    // Several buckets a step: one whole buffer would make 40 reductions (20 steps, 19 stop flags,
    // 1 monitor); 64 KiB buckets make at least 2 a step.
    let calls = fixture.two.stderr.split(separator: "\n").compactMap { line -> Int? in
      guard line.hasPrefix("rank 0 of 2: ") else { return nil }
      return Int(line.split(separator: " ")[4])
    }
    print("MPI fine-tuning with 64 KiB buckets: \(fixture.two.stderr.split(separator: "\n").filter { $0.contains("allreduce") })")
    #expect(calls.count == 1 && calls[0] >= 2 * 20 + 20)

    // The evaluation at the end of the 2-rank fine-tuning (held-out batches sharded over the
    // ranks, counts merged) equals one process's evaluation of the same weights exactly.
    let single = try MPI.succeed(
      ["evaluate", "--fsr", "--model", "two/model.h5", "--eval-count", "150", "--methods", "gradcam", "--threads", "1", "--json"],
      in: folder)
    #expect(fixture.two.stdout == single.stdout)

    // `evaluate --fsr`: two ranks score contiguous shards of whole batches and merge the counts,
    // which equals one process's evaluation exactly.
    let evaluate = ["evaluate", "--fsr", "--model", "one/model.h5", "--eval-count", "150", "--methods", "gradcam,simplegrad",
                    "--threads", "1", "--json"]
    let e1 = try MPI.succeed(evaluate, in: folder)
    let e2 = try MPI.succeed(evaluate, in: folder, launcher: MPI.twoRanks)
    #expect(e1.stdout == e2.stdout)
  }

  /// The state saved after step 10 by 2 ranks, resumed by one process, and the state saved by one
  /// process, resumed by 2 ranks, both end where one process's uninterrupted run ends (the state is
  /// the same on every rank: weights, Adam's moments, the step and the data order). Within 1e-5,
  /// not bit-identical: the steps taken by 2 ranks round otherwise (see above).
  @Test func resumingWithAnotherNumberOfRanks() throws {
    let folder = try MPI.fixture.get().folder
    for (from, to, launcher) in [("two", "two-then-one", [String]()), ("one", "one-then-two", MPI.twoRanks)] {
      try FileManager.default.copyItem(atPath: "\(folder)/\(from)", toPath: "\(folder)/\(to)")
      try FileManager.default.removeItem(atPath: "\(folder)/\(to)/model.h5")
      let r = try MPI.succeed(["finetune", "--resume", to, "--threads", "1", "--json"], in: folder, launcher: launcher)
      #expect(r.stderr.contains("resuming \(to) after step 10 of 20"))
      let difference = try MPI.maxRelativeDifference("\(folder)/\(to)/model.h5", "\(folder)/one/model.h5")
      print("MPI resume \(to): max relative weight difference to one process's uninterrupted run \(difference)")
      #expect(difference < 1e-5)
    }
  }

  /// The two ranks in two network namespaces joined by a veth pair, as on two hosts: Open MPI
  /// starts the second rank through an rsh agent that enters the other namespace, and the ranks
  /// talk over TCP (`--mca btl tcp,self`: no shared memory). Cancelled (reported as skipped, with
  /// the reason) where namespaces cannot be made: not root, no `ip`, no CAP_NET_ADMIN.
  @Test func twoRanksInTwoNetworkNamespaces() throws {
    let folder = try MPI.fixture.get().folder
    let network = try NamespacePair.make()
    defer { network.remove() }
    let agent = folder + "/netns-agent-\(getpid()).sh"
    let log = agent + ".log"
    try network.agentScript(log: log).write(toFile: agent, atomically: true, encoding: .utf8)
    chmod(agent, 0o755)
    let launcher = [network.ip, "netns", "exec", network.names.0, MPI.mpirun!, "--allow-run-as-root",
                    "--host", "\(network.addresses.0),\(network.addresses.1)", "-n", "2", "--mca", "plm_rsh_agent", agent,
                    "--mca", "btl", "tcp,self", "--mca", "btl_tcp_if_include", NamespacePair.subnet,
                    "--mca", "oob_tcp_if_include", NamespacePair.subnet, "-x", "MODELFOOL_DATASETS", "-x", "MODELFOOL_MPI_BUCKET_BYTES"]
    let r = try MPI.succeed(
      MPI.fineTune + ["--out", "netns"], in: folder, environment: ["MODELFOOL_MPI_BUCKET_BYTES": "65536"], launcher: launcher)
    // The second rank's daemon was started in the other namespace, at its address.
    #expect(try String(contentsOfFile: log, encoding: .utf8).contains("host \(network.addresses.1) in \(network.names.1)"))
    let difference = try MPI.maxRelativeDifference(folder + "/netns/model.h5", folder + "/one/model.h5")
    print("MPI fine-tuning over TCP between network namespaces: max relative weight difference \(difference)")
    #expect(difference < 1e-5)
    let single = try MPI.succeed(
      ["evaluate", "--fsr", "--model", "netns/model.h5", "--eval-count", "150", "--methods", "gradcam", "--threads", "1", "--json"],
      in: folder)
    #expect(r.stdout == single.stdout)
  }

  /// A rank that fails ends the whole job, after one line naming the rank and the cause.
  @Test func aFailingRankEndsTheJob() throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let start = Date()
    let r = try CLI.run(
      ["finetune", "--dataset", "german", "--model", "missing.h5", "--steps", "2"], in: folder, launcher: MPI.twoRanks + ["--quiet"])
    #expect(r.status != 0)
    #expect(r.stderr.contains("Error: rank ") && r.stderr.contains(" of 2: ") && r.stderr.contains("missing.h5"))
    #expect(Date().timeIntervalSince(start) < 60)
  }
}

/// Two network namespaces joined by a veth pair (`ip netns add`, `ip link add ... type veth`),
/// named after this process so that concurrent test runs do not meet.
struct NamespacePair {
  static let subnet = "10.99.0.0/24"
  let ip: String
  let names: (String, String)
  let addresses = ("10.99.0.1", "10.99.0.2")

  /// Makes the pair, or cancels the running test with the reason it cannot be made here.
  static func make() throws -> NamespacePair {
    guard let ip = MPI.executable("ip") else { try Test.cancel("network namespaces: `ip` (iproute2) is missing") }
    guard geteuid() == 0 else { try Test.cancel("network namespaces: not root (ip netns add needs CAP_NET_ADMIN)") }
    let pid = getpid()
    let pair = NamespacePair(ip: ip, names: ("mfa\(pid)", "mfb\(pid)"))
    let (a, b) = pair.names
    let steps: [[String]] = [
      ["netns", "add", a], ["netns", "add", b], ["link", "add", "mfv\(pid)a", "type", "veth", "peer", "name", "mfv\(pid)b"],
      ["link", "set", "mfv\(pid)a", "netns", a], ["link", "set", "mfv\(pid)b", "netns", b],
      ["-n", a, "addr", "add", pair.addresses.0 + "/24", "dev", "mfv\(pid)a"], ["-n", b, "addr", "add", pair.addresses.1 + "/24", "dev", "mfv\(pid)b"],
      ["-n", a, "link", "set", "mfv\(pid)a", "up"], ["-n", b, "link", "set", "mfv\(pid)b", "up"],
      ["-n", a, "link", "set", "lo", "up"], ["-n", b, "link", "set", "lo", "up"],
    ]
    for (k, arguments) in steps.enumerated() {
      let (status, message) = try run(ip, arguments)
      guard status == 0 else {
        pair.remove()
        // The first step failing means namespaces are not allowed here: skip; a later one is a fault.
        if k == 0 { try Test.cancel("network namespaces: `ip netns add` failed here: \(message)") }
        throw CLIError("ip \(arguments.joined(separator: " ")) failed: \(message)")
      }
    }
    return pair
  }

  /// Deletes both namespaces (and with them the veth pair).
  func remove() {
    _ = try? Self.run(ip, ["netns", "delete", names.0])
    _ = try? Self.run(ip, ["netns", "delete", names.1])
  }

  /// Open MPI's rsh agent (`agent [options] host command...`): runs the command in the host's
  /// namespace and logs each start to `log`.
  func agentScript(log: String) -> String {
    """
    #!/bin/sh
    while [ "${1#-}" != "$1" ]; do shift; done
    host=$1; shift
    case "$host" in
      \(addresses.0)) ns=\(names.0) ;;
      \(addresses.1)) ns=\(names.1) ;;
      *) echo "netns agent: unknown host $host" >&2; exit 1 ;;
    esac
    echo "host $host in $ns" >> '\(log)'
    exec \(ip) netns exec "$ns" sh -c "$*"

    """
  }

  private static func run(_ executable: String, _ arguments: [String]) throws -> (Int32, String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let errors = Pipe()
    process.standardError = errors
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    return (process.terminationStatus, message.trimmingCharacters(in: .whitespacesAndNewlines))
  }
}
