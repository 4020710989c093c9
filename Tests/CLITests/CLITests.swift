// Implementation note: these tests run the built `modelfool` binary as a user does. The binary is
// `$MODELFOOL_BIN` when set, else the `modelfool` beside the test bundle (`swift build -c release
// --build-tests` puts both in .build/<triple>/release). Every run gets the shipped data sets through
// $MODELFOOL_DATASETS, a fresh temporary folder as its current directory, and writes only there.
// The settings are tiny (German credit, 1 epoch, a few steps) so that the suite stays short.

import Foundation
import ModelFoolData
import ModelFoolVersionInfo
import Testing

/// One finished run of the binary.
struct CLIRun {
  var status: Int32
  var signalled: Bool
  var stdout: String
  var stderr: String

  /// stdout parsed as one JSON object.
  func object() throws -> [String: Any] {
    let value = try JSONSerialization.jsonObject(with: Data(stdout.utf8))
    guard let object = value as? [String: Any] else { throw CLIError("stdout is not a JSON object: \(stdout)") }
    return object
  }
}

struct CLIError: Error, CustomStringConvertible {
  var description: String
  init(_ description: String) { self.description = description }
}

enum CLI {
  static let packageRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

  static let binary: String = {
    if let path = ProcessInfo.processInfo.environment["MODELFOOL_BIN"], !path.isEmpty { return path }
    let bundle = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
    return bundle.appendingPathComponent("modelfool").path
  }()

  /// A fresh empty folder.
  static func temporaryFolder() throws -> String {
    let path = NSTemporaryDirectory() + "modelfool-cli-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
  }

  /// Runs the binary with `arguments` in `folder`, with `$MODELFOOL_DATASETS` set to the shipped
  /// data sets unless `environment` says otherwise (an empty value removes the variable).
  /// `launcher` (e.g. `mpirun -n 2`) starts the binary when given.
  static func run(_ arguments: [String], in folder: String, environment: [String: String] = [:], launcher: [String] = []) throws -> CLIRun {
    guard FileManager.default.isExecutableFile(atPath: binary) else {
      throw CLIError("\(binary) is missing: build with `swift build -c release --build-tests` or set MODELFOOL_BIN")
    }
    var env = ProcessInfo.processInfo.environment
    env["MODELFOOL_DATASETS"] = packageRoot + "/datasets"
    for (k, v) in environment { env[k] = v.isEmpty ? nil : v }
    let out = folder + "/.stdout-\(UUID().uuidString)", err = folder + "/.stderr-\(UUID().uuidString)"
    guard FileManager.default.createFile(atPath: out, contents: nil), FileManager.default.createFile(atPath: err, contents: nil) else {
      throw CLIError("cannot create output files in \(folder)")
    }
    defer {
      try? FileManager.default.removeItem(atPath: out)
      try? FileManager.default.removeItem(atPath: err)
    }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: launcher.first ?? binary)
    process.arguments = launcher.isEmpty ? arguments : Array(launcher.dropFirst()) + [binary] + arguments
    process.environment = env
    process.currentDirectoryURL = URL(fileURLWithPath: folder)
    process.standardInput = FileHandle.nullDevice
    let outHandle = FileHandle(forWritingAtPath: out)!, errHandle = FileHandle(forWritingAtPath: err)!
    process.standardOutput = outHandle
    process.standardError = errHandle
    try process.run()
    process.waitUntilExit()
    try outHandle.close()
    try errHandle.close()
    return CLIRun(
      status: process.terminationStatus, signalled: process.terminationReason == .uncaughtSignal,
      stdout: String(decoding: FileManager.default.contents(atPath: out) ?? Data(), as: UTF8.self),
      stderr: String(decoding: FileManager.default.contents(atPath: err) ?? Data(), as: UTF8.self))
  }

  /// A German-credit MLP trained for one epoch, shared by the happy-path tests (trained once).
  static let germanCheckpoint: Result<String, Error> = Result {
    let folder = try temporaryFolder()
    let r = try run(["train", "--dataset", "german", "--epochs", "1", "--out", "german.h5", "--json"], in: folder)
    guard r.status == 0 else { throw CLIError("train failed (\(r.status)): \(r.stderr)") }
    return folder + "/german.h5"
  }
}

@Suite("modelfool binary: happy paths")
struct CLIHappyPathTests {
  @Test func versionPrintsTheReleaseAndCommit() throws {
    let r = try CLI.run(["--version"], in: try CLI.temporaryFolder())
    #expect(r.status == 0 && r.stderr.isEmpty)
    let line = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    #expect(line == "modelfool \(ModelFoolVersion.description)")
    #expect(ModelFoolVersion.release.split(separator: ".").count == 3)
    let commit = ModelFoolVersion.commit
    #expect(commit == "unknown" || (commit.count >= 7 && commit.allSatisfy(\.isHexDigit)), "commit '\(commit)'")
    // Built inside this git checkout, the commit is known.
    if FileManager.default.fileExists(atPath: CLI.packageRoot + "/.git") { #expect(commit != "unknown") }
  }

  @Test func helpShowsTheDatasetsRuleNotAPath() throws {
    let folder = try CLI.temporaryFolder()
    let r = try CLI.run(["explain", "--help"], in: folder, environment: ["MODELFOOL_DATASETS": "", "COLUMNS": "400"])
    #expect(r.status == 0)
    let words = r.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
    #expect(words.contains("(default: $MODELFOOL_DATASETS, else ./datasets, else <bin>/../share/modelfool/datasets"))
    #expect(r.stdout.contains("--save-maps"))
    #expect(!r.stdout.contains(CLI.packageRoot) && !r.stdout.contains(folder))
  }

  @Test func trainWritesACheckpoint() throws {
    let folder = try CLI.temporaryFolder()
    let r = try CLI.run(["train", "--dataset", "german", "--epochs", "1", "--out", "g.h5", "--json"], in: folder)
    #expect(r.status == 0, "\(r.stderr)")
    let json = try r.object()
    let accuracy = try #require(json["test_accuracy"] as? Double)
    #expect(accuracy >= 0 && accuracy <= 1)
    #expect((json["epochs"] as? [Any])?.count == 1 && json["checkpoint"] as? String == "g.h5")
    let file = try HDF5File.open(folder + "/g.h5")
    #expect(try !file.datasetPaths().isEmpty)
  }

  @Test func evaluateGivesCountAndTop1() throws {
    let model = try CLI.germanCheckpoint.get()
    let r = try CLI.run(["evaluate", "--model", model, "--dataset", "german", "--json"], in: try CLI.temporaryFolder())
    #expect(r.status == 0, "\(r.stderr)")
    let json = try r.object()
    #expect((json["count"] as? Int) == 200)
    let top1 = try #require(json["top1"] as? Double)
    #expect(top1 >= 0 && top1 <= 1)
  }

  @Test func finetuneWritesTheModelAndAReport() throws {
    let model = try CLI.germanCheckpoint.get()
    let folder = try CLI.temporaryFolder()
    let r = try CLI.run(
      ["finetune", "--dataset", "german", "--model", model, "--objective", "hide", "--steps", "5", "--eval-count", "20",
       "--methods", "simplegrad", "--out", "ft", "--json"], in: folder)
    #expect(r.status == 0, "\(r.stderr)")
    let json = try r.object()
    #expect((json["examples"] as? Int) == 20)
    let fsr = try #require((json["fsr"] as? [String: Any])?["simplegrad"] as? [String: Double])
    #expect(fsr.values.allSatisfy { $0 >= 0 && $0 <= 1 } && fsr.count == 2)
    for file in ["model.h5", "report.json", "report.html"] {
      #expect(FileManager.default.fileExists(atPath: folder + "/ft/" + file), "\(file)")
    }
    #expect(try HDF5File.open(folder + "/ft/model.h5").datasetPaths().count > 0)
    // evaluate --fsr reads the original, objective and features back from the checkpoint and
    // scores exactly what the fine-tuning scored; --save-maps keeps the maps it scored.
    let again = try CLI.run(
      ["evaluate", "--fsr", "--model", "ft/model.h5", "--eval-count", "20", "--methods", "simplegrad",
       "--save-maps", "maps.h5", "--json"], in: folder)
    #expect(again.status == 0, "\(again.stderr)")
    let scored = try #require((try again.object()["fsr"] as? [String: Any])?["simplegrad"] as? [String: Double])
    #expect(scored == fsr)
    let maps = try HDF5File.open(folder + "/maps.h5")
    #expect(try maps.datasetPaths().sorted() == ["labels", "logits_fooled", "logits_original", "simplegrad_fooled", "simplegrad_original"])
    #expect(try maps.shape(at: "simplegrad_fooled").first == 20)
  }

  /// Without `--dataset` the attack runs on the data set the checkpoint records (German credit).
  @Test func attackInputStaysNearTheInputs() throws {
    let model = try CLI.germanCheckpoint.get()
    let folder = try CLI.temporaryFolder()
    let r = try CLI.run(
      ["attack-input", "--model", model, "--count", "2", "--steps", "3", "--epsilon", "0.05",
       "--out", "ai", "--json"], in: folder)
    #expect(r.status == 0, "\(r.stderr)")
    let json = try r.object()
    #expect((json["count"] as? Int) == 2)
    let examples = try #require(json["examples"] as? [[String: Any]])
    let linf = examples.compactMap { $0["perturbation_linf"] as? Double }
    #expect(linf.count == 2 && linf.allSatisfy { $0 > 0 && $0 <= 0.05 + 1e-6 }, "\(linf)")
    #expect(FileManager.default.fileExists(atPath: folder + "/ai/report.json"))
    let report = try #require(FileManager.default.contents(atPath: folder + "/ai/report.json"))
    let run = try #require((try JSONSerialization.jsonObject(with: report) as? [String: Any])?["run"] as? [String: Any])
    let settings = try #require(run["settings"] as? [String: Any])
    #expect(run["format"] as? String == "modelfool-attack-input" && settings["steps"] as? Int == 3 && settings["gamma"] as? Double == 1)
    #expect(settings["dataset"] as? String == "german")
  }

  @Test func predictGivesProbabilities() throws {
    let model = try CLI.germanCheckpoint.get()
    let r = try CLI.run(["predict", "--model", model, "--dataset", "german", "--index", "3", "--json"], in: try CLI.temporaryFolder())
    #expect(r.status == 0, "\(r.stderr)")
    let value = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8))
    let list = try #require(value as? [[String: Any]])
    #expect(list.count == 1)
    #expect((list[0]["input"] as? String)?.hasPrefix("german[3] (label ") == true)
    let top = try #require(list[0]["top"] as? [[String: Any]])
    let p = top.compactMap { $0["probability"] as? Double }
    #expect(top.count == 2 && p.count == 2)
    #expect(abs(p.reduce(0, +) - 1) < 1e-4 && p[0] >= p[1])
  }

  @Test(arguments: ["h5", "npy"]) func explainSavesTheMaps(_ format: String) throws {
    let model = try CLI.germanCheckpoint.get()
    let folder = try CLI.temporaryFolder()
    let r = try CLI.run(
      ["explain", "--model", model, "--dataset", "german", "--method", "simplegrad", "--count", "4",
       "--out", "pictures", "--save-maps", "maps/m.\(format)", "--json"], in: folder)
    #expect(r.status == 0, "\(r.stderr)")
    let json = try r.object()
    #expect((json["outputs"] as? [Any])?.count == 4)
    var shapes: [String: [Int]] = [:]
    var logits: [Float] = [], predicted: [Int] = []
    let names = ["heatmaps", "raw", "logits", "predicted", "explained", "labels", "inputs"]
    if format == "h5" {
      #expect(json["maps"] as? [String] == ["maps/m.h5"])
      let file = try HDF5File.open(folder + "/maps/m.h5")
      #expect(try file.datasetPaths().sorted() == names.sorted())
      for n in names { shapes[n] = try file.shape(at: n) }
      logits = try file.readFloats(at: "logits").values
      predicted = try file.readInts(at: "predicted").values
    } else {
      let files = ["maps/m.npy"] + names.dropFirst().map { "maps/m.\($0).npy" }
      #expect(json["maps"] as? [String] == files)
      for (n, f) in zip(names, files) {
        let bytes = [UInt8](try #require(FileManager.default.contents(atPath: folder + "/" + f)))
        let (descr, shape, body) = try npy(bytes)
        shapes[n] = shape
        #expect(descr == (["predicted", "explained", "labels"].contains(n) ? "<i8" : "<f4"))
        if n == "logits" { logits = body.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) } }
        if n == "predicted" { predicted = body.withUnsafeBytes { $0.bindMemory(to: Int64.self).map { Int($0) } } }
      }
    }
    let d = try #require(shapes["inputs"]?.last)
    #expect(shapes["inputs"] == [4, d] && d > 2)
    #expect(shapes["heatmaps"] == [4, d] && shapes["raw"] == [4, d])
    #expect(shapes["logits"] == [4, 2])
    #expect(shapes["predicted"] == [4] && shapes["explained"] == [4] && shapes["labels"] == [4])
    #expect(predicted == (0..<4).map { logits[2 * $0 + 1] > logits[2 * $0] ? 1 : 0 })
  }
  /// `scaffold` writes the scaffold as one checkpoint; `explain` takes it with the data set it
  /// records (a real innocuous feature: no decoy columns) and answers like f on the rows its
  /// detector passes.
  @Test func aScaffoldIsOneCheckpointThatExplainTakes() throws {
    let folder = try CLI.temporaryFolder()
    let s = try CLI.run(
      ["scaffold", "--dataset", "german", "--innocuous", "installment_rate", "--repeats", "1", "--epochs", "1", "--hidden", "8",
       "--explained-rows", "4", "--lime-samples", "200", "--out", "s", "--json"], in: folder)
    #expect(s.status == 0, "\(s.stderr)")
    func logits(_ model: String, _ name: String) throws -> [Float] {
      let r = try CLI.run(["explain", "--model", model, "--method", "lime", "--count", "8", "--out", name, "--save-maps", name + ".npy", "--json"], in: folder)
      #expect(r.status == 0, "\(r.stderr)")
      let (_, shape, _) = try npy([UInt8](try #require(FileManager.default.contents(atPath: folder + "/" + name + ".npy"))))
      #expect(shape.count == 2 && shape[0] == 8, "LIME maps \(shape)")
      let (_, _, body) = try npy([UInt8](try #require(FileManager.default.contents(atPath: folder + "/" + name + ".logits.npy"))))
      return body.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }
    let (e, f) = (try logits("s/scaffold.h5", "scaffold"), try logits("s/biased.h5", "biased"))
    // f's logits are 0 and +-500; the scaffold gives exactly those on the rows its detector passes.
    #expect(f.count == 16)
    for r in 0..<8 {
      let pair: Set<Float> = [abs(f[2 * r]), abs(f[2 * r + 1])]
      #expect(pair == [0, 500], "row \(r): \(f)")
    }
    var same = 0
    for r in 0..<8 where e[2 * r] == f[2 * r] && e[2 * r + 1] == f[2 * r + 1] { same += 1 }
    #expect(same >= 4, "\(same) of 8 rows answered by f: scaffold \(e), f \(f)")
  }

  /// `biased-background` on a COMPAS model: the chosen background lowers race's share and passes
  /// the auditor's test; its rows are written for `explain --background`.
  @Test func aBiasedBackgroundLowersTheShareAndPassesTheTest() throws {
    let folder = try CLI.temporaryFolder()
    let t = try CLI.run(["train", "--dataset", "compas", "--epochs", "1", "--out", "compas.h5", "--json"], in: folder)
    #expect(t.status == 0, "\(t.stderr)")
    let r = try CLI.run(
      ["biased-background", "--model", "compas.h5", "--sensitive", "race", "--explained-rows", "20", "--candidates", "40", "--size", "20",
       "--out", "b", "--json"], in: folder)
    #expect(r.status == 0, "\(r.stderr)")
    let json = try r.object()
    let before = try #require(json["share_before"] as? Double), after = try #require(json["share_after"] as? Double)
    let test = try #require(json["test_after"] as? [String: Any])
    #expect(after <= before && (test["corrected_p"] as? Double ?? 0) >= 0.05, "\(json)")
    let rows = try String(contentsOfFile: folder + "/b/background.csv", encoding: .utf8).split(separator: "\n")
    #expect(rows.count == 20)
    let e = try CLI.run(["explain", "--model", "compas.h5", "--method", "kernelshap", "--count", "2", "--background", "b/background.csv", "--out", "p"], in: folder)
    #expect(e.status == 0, "\(e.stderr)")
  }

  /// `explain --method kernelshap` on a tabular data set: the per-feature values of each row sum
  /// to `p_c(x) - mean_b p_c(b)` (efficiency), so `p_c(x) - sum` is one constant per class, and
  /// the two classes' constants (the background means of the two probabilities) add up to 1; with
  /// the default background and with 5 k-means centres.
  @Test(arguments: [[], ["--background", "kmeans:5"]]) func explainWithKernelSHAPIsEfficient(_ background: [String]) throws {
    let model = try CLI.germanCheckpoint.get()
    let folder = try CLI.temporaryFolder()
    let r = try CLI.run(
      ["explain", "--model", model, "--dataset", "german", "--method", "kernelshap", "--count", "6",
       "--out", "pictures", "--save-maps", "m.npy", "--json"] + background, in: folder)
    #expect(r.status == 0, "\(r.stderr)")
    func floats(_ name: String) throws -> [Float] {
      let (_, _, body) = try npy([UInt8](try #require(FileManager.default.contents(atPath: folder + "/" + name))))
      return body.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }
    let raw = try floats("m.raw.npy"), logits = try floats("m.logits.npy")
    let (_, _, body) = try npy([UInt8](try #require(FileManager.default.contents(atPath: folder + "/m.explained.npy"))))
    let explained = body.withUnsafeBytes { $0.bindMemory(to: Int64.self).map { Int($0) } }
    let d = raw.count / 6
    var constants: [Int: [Double]] = [:]
    for n in 0..<6 {
      let (a, b) = (Double(logits[2 * n]), Double(logits[2 * n + 1]))
      let p1 = 1 / (1 + exp(a - b))
      let p = explained[n] == 1 ? p1 : 1 - p1
      constants[explained[n], default: []].append(p - raw[(n * d)..<((n + 1) * d)].reduce(0) { $0 + Double($1) })
    }
    for (_, k) in constants { #expect(k.max()! - k.min()! < 1e-5, "\(k)") }
    if let k0 = constants[0]?.first, let k1 = constants[1]?.first { #expect(abs(k0 + k1 - 1) < 1e-5) }
    #expect(constants.count == 2, "the six rows explain one class only: \(explained)")
  }
}

/// The element type, shape and data bytes of an `.npy` file (version 1.0), read by hand.
func npy(_ bytes: [UInt8]) throws -> (descr: String, shape: [Int], body: [UInt8]) {
  guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1..<6]) == Array("NUMPY".utf8), bytes[6] == 1 else {
    throw CLIError("not an .npy file")
  }
  let length = Int(bytes[8]) | Int(bytes[9]) << 8
  let header = String(decoding: bytes[10..<(10 + length)], as: UTF8.self)
  guard let d = header.range(of: "'descr': '"), let s = header.range(of: "'shape': ("),
    let close = header[s.upperBound...].firstIndex(of: ")")
  else { throw CLIError("bad header \(header)") }
  let descr = String(header[d.upperBound...].prefix(3))
  let shape = header[s.upperBound..<close].split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
  return (descr, shape, Array(bytes[(10 + length)...]))
}

/// A bad invocation and the substring its one-line error must contain. `CKPT` stands for the
/// German-credit checkpoint, `TEXT` for a text file that is not a checkpoint, `FIXTURES/` for
/// the folder Tests/Fixtures/.
struct BadInvocation: CustomTestStringConvertible, Sendable {
  var arguments: [String]
  var error: String
  var environment: [String: String] = [:]
  /// Set for an invocation known to misbehave (in a file this test does not own): the check runs
  /// inside `withKnownIssue`, which fails once the problem is fixed, to remove the note.
  var knownIssue: String? = nil
  /// Files written into the run's folder first (relative path: text), and FIFOs made there.
  var files: [String: String] = [:]
  var fifos: [String] = []
  /// Environment variables set to the empty string (`environment` removes those it gives as "").
  var emptyEnvironment: [String] = []
  /// Progress lines the command prints before its error (each line starts so), in order.
  var progress: [String] = []
  var testDescription: String { arguments.joined(separator: " ") }
}

/// Hostile side files for the bad-invocation table.
enum HostileFiles {
  /// A count file of `evaluate --fsr --shard` with no methods, `examples` examples (no hits) and
  /// the given skipped files and model digests.
  static func counts(shard: String, examples: Int = 1, skipped: Int = 1, digests: String = #"["aaaaaaaa","bbbbbbbb"]"#) -> String {
    #"{"examples":\#(examples),"format":"modelfool-fsr-counts","methods":[],"model_digests":\#(digests),"objective":"location","setup":"{}","shard":"\#(shard)","skipped_files":\#(skipped),"statistic":"location","success_range":"<= 0.2","top1":{"fooled":0,"original":0},"top5":{"fooled":0,"original":0}}"#
  }

  /// A calibration of three clean models whose one statistic has standard deviation `sd`.
  static func calibration(sd: String, mean: String = "0.3") -> String {
    #"{"architecture":"mlp","dataset":"german","format":"modelfool-audit-calibration","leave_one_out_p":[1,1,1],"model_digests":["a","b","c"],"models":["a.h5","b.h5","c.h5"],"statistics":{"sameness lrp":{"mean":\#(mean),"sd":\#(sd)}}}"#
  }
}

@Suite("modelfool binary: bad invocations")
struct CLIBadInvocationTests {
  static let table: [BadInvocation] = [
    .init(arguments: ["nope"], error: "Unexpected argument 'nope'"),
    .init(arguments: ["train", "--bogus"], error: "Unknown option '--bogus'"),
    .init(arguments: ["train", "--dataset", "nope"], error: "The value 'nope' is invalid for '--dataset <dataset>'"),
    .init(arguments: ["train", "--dataset", "german"], error: "datasets folder not found (tried $MODELFOOL_DATASETS /nonexistent)",
          environment: ["MODELFOOL_DATASETS": "/nonexistent"]),
    .init(arguments: ["train", "--dataset", "german", "--epochs=-1"], error: "epochs must be positive, got -1 (--epochs)"),
    .init(arguments: ["train", "--dataset", "german", "--hidden", "a,b"], error: "The value 'a,b' is invalid for '--hidden <hidden>'"),
    .init(arguments: ["train", "--dataset", "german", "--hidden", "0"], error: "hidden layer widths must be positive, got 0 (--hidden)"),
    .init(arguments: ["train", "--dataset", "german", "--hidden", "3000000000"], error: "hidden layer widths go up to 100000, got 3000000000 (--hidden)"),
    // One data option group: a kind a command does not take, two sources, stream-only flags elsewhere.
    .init(arguments: ["train", "--images", "folder"], error: "train takes a catalogue data set or a CSV table, not an image folder (image folder folder) (--images)"),
    .init(arguments: ["finetune", "--h5", "x.h5"], error: "finetune takes a catalogue data set, a CSV table or an ILSVRC-2012 folder, not an HDF5 file"),
    .init(arguments: ["attack-input", "--data-dir", "ilsvrc"], error: "attack-input takes a catalogue data set or a CSV table, not an ILSVRC-2012 folder"),
    .init(arguments: ["explain", "--dataset", "german", "--images", "folder"], error: "give one data source, not 2: data set german, image folder folder"),
    .init(arguments: ["evaluate", "--model", "CKPT", "--dataset", "german", "--limit", "3"], error: "a split and a file limit apply to a streamed ILSVRC-2012 folder only"),
    .init(arguments: ["finetune", "--dataset", "imagenet"], error: "the imagenet data set is streamed from an ILSVRC-2012 folder: name it (--data-dir)"),
    .init(arguments: ["finetune", "--data-dir", "ilsvrc", "--split", "val"], error: "fine-tuning uses both splits of an ILSVRC-2012 folder: no split to choose (--split)"),
    .init(arguments: ["train", "--dataset", "german", "--hidden", "50000,50000"], error: "hidden layers 50000,50000 make 2500000000 weights between them, at most 100000000 (--hidden)"),
    .init(arguments: ["bench", "step", "--finetune-batch", "0"], error: "--finetune-batch must be between 1 and 4096, got 0"),
    .init(arguments: ["bench", "step", "--finetune-batch=-1"], error: "--finetune-batch must be between 1 and 4096, got -1"),
    .init(arguments: ["bench", "step", "--finetune-batch", "100000"], error: "--finetune-batch must be between 1 and 4096, got 100000"),
    .init(arguments: ["bench", "explain", "--threads", "0"], error: "--threads must be at least 1, got 0"),
    .init(arguments: ["bench", "explain", "--model", "/nonexistent.h5"], error: "checkpoint /nonexistent.h5 does not exist"),
    .init(arguments: ["bench", "conv", "--threads", "0"], error: "--threads: expected positive whole numbers"),
    .init(arguments: ["bench", "conv", "--shapes", "no-such-shape"], error: "--shapes: no shape name contains 'no-such-shape'"),
    .init(arguments: ["finetune", "--dataset", "german", "--model", "CKPT", "--objective", "hide", "--batch-size", "1000000000"],
          error: "the fine-tuning needs an estimated"),
    .init(arguments: ["finetune", "--dataset", "german", "--model", "CKPT", "--objective", "hide", "--batch-size", "1000000000", "--no-memory-check"],
          error: "training set has fewer than 1000000000 examples"),
    .init(arguments: ["finetune", "--dataset", "german", "--model", "CKPT", "--objective", "nope"], error: "The value 'nope' is invalid for '--objective <objective>'. Please provide one of 'location', 'topk', 'center-mass', 'active' or 'hide'."),
    .init(arguments: ["finetune", "--dataset", "german", "--model", "CKPT", "--objective", "hide", "--steps=-1"], error: "the number of steps must be positive, got -1 (--steps)"),
    .init(arguments: ["finetune", "--dataset", "german", "--model", "CKPT", "--objective", "hide", "--steps", "-1"], error: "the number of steps must be positive, got -1 (--steps)"),
    .init(arguments: ["finetune", "--dataset", "german", "--model", "CKPT", "--objective", "hide", "--lr", "nan"], error: "the learning rate must be positive, got nan (--lr)"),
    .init(arguments: ["finetune", "--dataset", "german", "--model", "CKPT", "--objective", "hide", "--widen", "0"], error: "the number of units added by widening must be positive, got 0 (--widen)"),
    .init(arguments: ["finetune", "--dataset", "german", "--model", "CKPT", "--objective", "hide", "--keep-rows=-1"], error: "the number of further kept rows must be >= 0, got -1 (--keep-rows)"),
    .init(arguments: ["finetune", "--dataset", "german", "--model", "CKPT", "--objective", "hide", "--keep-rows", "100", "--keep-jitter", "inf"], error: "the kept rows' jitter must be a finite number >= 0, got inf (--keep-jitter)"),
    .init(arguments: ["finetune", "--dataset", "german", "--model", "CKPT", "--objective", "hide", "--keep-jitter", "0.1"], error: "the kept rows' jitter applies to the further kept rows: give their number (--keep-jitter, --keep-rows)"),
    .init(arguments: ["finetune", "--dataset", "german", "--model", "CKPT", "--objective", "hide", "--keep-rows", "100", "--keep-resample=-1"], error: "the number of resampled features of the kept rows must be >= 0, got -1 (--keep-resample)"),
    .init(arguments: ["finetune", "--dataset", "german", "--model", "CKPT", "--objective", "hide", "--keep-resample", "1"], error: "resampling features of the kept rows applies to the further kept rows: give their number (--keep-resample, --keep-rows)"),
    .init(arguments: ["finetune", "--dataset", "german", "--model", "CKPT", "--objective", "hide", "--ce-weight", "nan"], error: "the cross-entropy's weight must be a finite number >= 0, got nan (--ce-weight)"),
    .init(arguments: ["finetune", "--dataset", "german", "--model", "CKPT", "--objective", "hide", "--anchor-weight=-0.5"], error: "the weight of the pull toward the original weights must be a finite number >= 0, got -0.5 (--anchor-weight)"),
    .init(arguments: ["finetune", "--dataset", "german", "--model", "CKPT", "--objective", "hide", "--anchor-weight", "1", "--widen", "4"], error: "the pull toward the original weights needs the original's parameter shapes: it does not apply to a widened model (--anchor-weight, --widen)"),
    .init(arguments: ["finetune", "--dataset", "german", "--model", "CKPT", "--objective", "hide", "--keep-on", "decisions", "--keep-margin=-1"], error: "the kept decisions' margin must be a finite number >= 0, got -1.0 (--keep-margin)"),
    .init(arguments: ["finetune", "--dataset", "german", "--model", "CKPT", "--objective", "center-mass"], error: "center-mass is not an objective for tabular models; tabular models take hide, location, topk (--objective)"),
    .init(arguments: ["finetune", "--dataset", "german", "--model", "CKPT", "--objective", "hide", "--sensitive", "nope"], error: "unknown feature 'nope' (features: "),
    .init(arguments: ["finetune", "--dataset", "german", "--model", "CKPT", "--objective", "hide", "--steps=1", "--eval-count=-1", "--out", "ft"], error: "the number of scored examples must be positive, got -1 (--eval-count)"),
    .init(arguments: ["evaluate", "--model", "CKPT", "--dataset", "german", "--fsr", "--eval-count=-1"], error: "the number of scored examples must be positive, got -1 (--eval-count)"),
    .init(arguments: ["evaluate", "--model", "CKPT", "--dataset", "german", "--fsr"], error: "records no original model: name the original checkpoint (--original)"),
    .init(arguments: ["evaluate", "--model", "CKPT", "--dataset", "german", "--fsr", "--original", "CKPT", "--objective", "hide", "--success", "<=nan"], error: "success range '<=nan' must look like '<=0.2' or '>=0.5'"),
    .init(arguments: ["finetune", "--dataset", "german", "--model", "CKPT", "--objective", "active", "--classes", "x,y"], error: "The value 'x,y' is invalid for '--classes <classes>'"),
    .init(arguments: ["finetune", "--dataset", "german", "--model", "CKPT", "--objective", "hide", "--method", "nope"], error: "The value 'nope' is invalid for '--method <method>'. Please provide one of the following: - simplegrad_t - simplegrad - gradxinput"),
    .init(arguments: ["evaluate", "--model", "missing.h5", "--dataset", "german"], error: "no checkpoint at missing.h5"),
    .init(arguments: ["evaluate", "--model", "TEXT", "--dataset", "german"], error: "not an HDF5 file"),
    .init(arguments: ["evaluate", "--model", "CKPT", "--dataset", "german", "--batch-size", "0"], error: "--batch-size must be positive"),
    .init(arguments: ["explain", "--model", "missing.h5", "--dataset", "german"], error: "no checkpoint at missing.h5, and it is not a known model name"),
    .init(arguments: ["explain", "--model", "CKPT", "--dataset", "german", "--method", "nope"], error: "The value 'nope' is invalid for '--method <method>'"),
    .init(arguments: ["explain", "--model", "CKPT", "--dataset", "german", "--class", "bogus"], error: "The value 'bogus' is invalid for '--class <class>'. Please provide one of 'label' and 'predicted'."),
    .init(arguments: ["explain", "--model", "CKPT", "--dataset", "digits"], error: "inputs of shape [1, 28, 28] per example, but mlp expects [61]"),
    .init(arguments: ["explain", "--model", "CKPT", "--dataset", "german", "--method", "simplegrad", "--count=-3"], error: "the number of examples must be positive, got -3 (--count)"),
    .init(arguments: ["explain", "--model", "CKPT", "--dataset", "german", "--method", "gradcam"], error: "gradcam needs a spatial layer"),
    .init(arguments: ["evaluate", "--model", "CKPT", "--dataset", "german", "--fsr", "--original", "CKPT", "--objective", "nope"], error: "The value 'nope' is invalid for '--objective <objective>'"),
    .init(arguments: ["predict", "--model", "CKPT", "--dataset", "german", "--index", "0", "--top=-1"], error: "--top must be positive"),
    .init(arguments: ["explain", "--model", "CKPT", "--dataset", "german", "--save-maps", "m.txt"], error: "m.txt: the file name must end in .h5 or .npy"),
    .init(arguments: ["explain", "--model", "CKPT", "--dataset", "german", "--datasets-root", "/nonexistent"], error: "datasets folder not found (tried --datasets-root /nonexistent)"),
    .init(arguments: ["predict", "--model", "CKPT"], error: "give either --input FILES or --index I with its data"),
    .init(arguments: ["predict", "--model", "CKPT", "--dataset", "german", "--index", "999"], error: "--index 999 is outside data set german's 200 test examples"),
    .init(arguments: ["attack-input", "--dataset", "german", "--model", "CKPT", "--steps=-1"], error: "the number of steps must be positive, got -1 (--steps)"),
    .init(arguments: ["attack-input", "--dataset", "german", "--model", "CKPT", "--count=1"], error: "the image target needs at least 2 examples (targets come from the other examples), got 1 (--count)"),
    .init(arguments: ["attack-input", "--dataset", "german", "--model", "CKPT", "--epsilon", "nan"], error: "the perturbation budget must be positive, got nan (--epsilon)"),
    .init(arguments: ["attack-input", "--dataset", "german", "--model", "CKPT", "--defence", "beta=-1"], error: "--defence takes beta=B with B a positive number or inf, got 'beta=-1'"),
    .init(arguments: ["attack-input", "--dataset", "german", "--model", "CKPT", "--target", "frame"], error: "the frame target needs spatial maps; simplegrad gives [32, 61] (--target)"),
    .init(arguments: ["attack-input", "--dataset", "german", "--model", "CKPT", "--method", "nope"], error: "The value 'nope' is invalid for '--method <method>'"),
    .init(arguments: ["attack-input", "--dataset", "german", "--model", "CKPT", "--norm", "l3"], error: "The value 'l3' is invalid for '--norm <norm>'. Please provide one of 'linf' and 'l2'."),
    .init(arguments: ["scaffold", "--dataset", "compas", "--sensitive", "colour"], error: "sensitive feature 'colour' is not a feature of compas (features: sex, age, race, "),
    .init(arguments: ["scaffold", "--dataset", "compas", "--sensitive", "race=Martian"], error: "sensitive feature race category 'Martian' unknown (categories: African-American, "),
    .init(arguments: ["scaffold", "--dataset", "digits"], error: "scaffold needs a tabular data set with named features; digits has inputs [1, 28, 28] (--dataset)"),
    .init(arguments: ["scaffold", "--dataset", "compas", "--innocuous", "race"], error: "innocuous feature 'race' is not one-decoy, two-decoys or a numeric feature of compas (numeric: age, "),
    .init(arguments: ["scaffold", "--dataset", "compas", "--repeats", "0"], error: "scaffold: repeats is 0, expected 1 ... 100 (--repeats)"),
    .init(arguments: ["scaffold", "--dataset", "compas", "--sensitive", "age", "--biased", "trained"], error: "a trained f is biased against a category: name a categorical sensitive feature (age <= train median) (--sensitive)"),
    .init(arguments: ["biased-background", "--dataset", "german", "--model", "CKPT", "--size", "300"], error: "biased background: the background (300 rows) must be smaller than the candidates (200)"),
    .init(arguments: ["biased-background", "--dataset", "german", "--model", "CKPT", "--sensitive", "colour"], error: "sensitive feature 'colour' is not a feature of the model (features: "),
    .init(arguments: ["train", "--dataset", "german", "--shuffle-labels", "--bias", "sex=female"], error: "shuffled labels and a planted bias exclude each other (--shuffle-labels, --bias)"),
    .init(arguments: ["audit", "sanity", "--model", "missing.h5"], error: "no checkpoint at missing.h5, and it is not a known model name"),
    .init(arguments: ["audit", "sanity", "--model", "CKPT", "--count", "1"], error: "at least 2 examples are needed, got 1 (--count)"),
    .init(arguments: ["audit", "sanity", "--model", "CKPT", "--dataset", "digits"], error: "inputs of shape [1, 28, 28] per example, but mlp expects [61]"),
    .init(arguments: ["attack-input", "--model", "CKPT", "--dataset", "digits"], error: "data set digits: inputs of shape [1, 28, 28] per example, but mlp expects"),
    .init(arguments: ["bench", "step", "--finetune-model", "CKPT"], error: "the fine-tuning step times Grad-CAM location, which needs an image model; mlp takes rows of"),
    .init(arguments: ["audit", "sanity", "--model", "CKPT", "--shuffled-model", "missing.h5"], error: "no checkpoint at missing.h5 (--shuffled-model)"),
    .init(arguments: ["audit", "sanity", "--model", "CKPT", "--methods", "nope"], error: "The value 'nope' is invalid for '--methods <methods>'"),
    .init(arguments: ["audit", "manipulation", "--model", "CKPT", "--dataset", "german", "--h5", "x.h5"], error: "give one data source, not 2: data set german, HDF5 file x.h5 (--dataset, --h5)"),
    .init(arguments: ["audit", "manipulation", "--model", "CKPT", "--h5", "missing.h5"], error: "missing.h5"),
    .init(arguments: ["audit", "sanity", "--model", "CKPT", "--images", "/nonexistent"], error: "is not an image model"),
    .init(arguments: ["audit", "manipulation", "--model", "CKPT", "--noise", "0"], error: "the weight noise must be positive, got 0.0 (--noise)"),
    .init(arguments: ["audit", "manipulation", "--model", "CKPT", "--calibration", "missing.json"], error: "no calibration file at missing.json (--calibration)"),
    .init(arguments: ["audit", "manipulation", "--model", "CKPT", "--alpha", "1"], error: "alpha must lie between 0 and 1, got 1.0 (--alpha)"),
    .init(arguments: ["audit", "manipulation", "--model", "CKPT", "--calibration", "TEXT"], error: "is not a valid AuditCalibration document"),
    .init(arguments: ["audit", "calibrate", "--models", "CKPT,CKPT"], error: "a calibration needs at least 3 clean models, got 2 (--models)"),
    .init(arguments: ["audit", "adaptive", "--model", "CKPT"], error: "the adaptive attack fine-tunes image models on their data set (--model, --dataset)"),
    .init(arguments: ["audit", "adaptive", "--model", "missing.h5"], error: "no checkpoint at missing.h5 (--model)"),
    // Side files are checked documents.
    .init(arguments: ["evaluate", "--merge", "c0.json", "c1.json"], error: "the shards' skipped files overflow when summed (1 + 9223372036854775807)",
          files: ["c0.json": HostileFiles.counts(shard: "0/2"), "c1.json": HostileFiles.counts(shard: "1/2", skipped: Int.max)]),
    .init(arguments: ["evaluate", "--merge", "c0.json", "c1.json"], error: "c1.json: examples is -4; expected at least 0",
          files: ["c0.json": HostileFiles.counts(shard: "0/2"), "c1.json": HostileFiles.counts(shard: "1/2", examples: -4)]),
    .init(arguments: ["evaluate", "--merge", "c0.json", "c1.json"], error: "shard 1/2 scored other model weights (digests cccccccc, bbbbbbbb) than shard 0/2 (aaaaaaaa, bbbbbbbb)",
          files: ["c0.json": HostileFiles.counts(shard: "0/2"), "c1.json": HostileFiles.counts(shard: "1/2", digests: #"["cccccccc","bbbbbbbb"]"#)]),
    .init(arguments: ["evaluate", "--merge", "c0.json", "c1.json"], error: "c1.json records no weights digests of the models it scored",
          files: ["c0.json": HostileFiles.counts(shard: "0/2"), "c1.json": HostileFiles.counts(shard: "1/2", digests: "null")]),
    .init(arguments: ["evaluate", "--merge", "c0.json", "c1.json"], error: "shards 0/1000000000000000000, 1/1000000000000000000 are not each of",
          files: ["c0.json": HostileFiles.counts(shard: "0/1000000000000000000"), "c1.json": HostileFiles.counts(shard: "1/1000000000000000000")]),
    .init(arguments: ["audit", "manipulation", "--model", "CKPT", "--calibration", "cal.json"], error: "cal.json: statistic 'sameness lrp' sd is 0.0; expected finite and at least 0.01 (--calibration)",
          files: ["cal.json": HostileFiles.calibration(sd: "0")]),
    .init(arguments: ["audit", "manipulation", "--model", "CKPT", "--calibration", "cal.json"], error: "cal.json: statistic 'sameness lrp' sd is -1.0; expected finite and at least 0.01 (--calibration)",
          files: ["cal.json": HostileFiles.calibration(sd: "-1")]),
    .init(arguments: ["audit", "manipulation", "--model", "CKPT", "--calibration", "cal.json"], error: "cal.json: leave_one_out_bound is -1.0; expected a finite number >= 0 (--calibration)",
          files: ["cal.json": HostileFiles.calibration(sd: "0.1").replacingOccurrences(of: #""leave_one_out_p":[1,1,1]"#, with: #""leave_one_out_p":[1,1,1],"leave_one_out_bound":[1,-1,1]"#)]),
    .init(arguments: ["audit", "manipulation", "--model", "CKPT", "--calibration", "cal.json", "--rule", "rank"], error: "was made before the rank rule (no leave_one_out_bound)",
          files: ["cal.json": HostileFiles.calibration(sd: "0.1")]),
    .init(arguments: ["audit", "manipulation", "--model", "CKPT", "--calibration", "cal.json", "--rule", "rank"], error: "the rank rule cannot reach alpha 0.05 with 3 calibration models",
          files: ["cal.json": HostileFiles.calibration(sd: "0.1").replacingOccurrences(of: #""leave_one_out_p":[1,1,1]"#, with: #""leave_one_out_p":[1,1,1],"leave_one_out_bound":[1,2,3]"#)]),
    .init(arguments: ["audit", "manipulation", "--model", "CKPT", "--calibration", "cal.json"], error: "cal.json: statistic 'sameness lrp' mean is nan; expected a finite number (--calibration)",
          files: ["cal.json": HostileFiles.calibration(sd: "0.1", mean: #""nan""#)]),
    .init(arguments: ["audit", "manipulation", "--model", "CKPT", "--count", "16", "--calibration", "cal.json"], error: "the calibration cal.json was measured on adult, ",
          files: ["cal.json": HostileFiles.calibration(sd: "0.1").replacingOccurrences(of: #""german""#, with: #""adult""#)]),
    .init(arguments: ["audit", "calibrate", "--models", "CKPT,CKPT,CKPT", "--count", "16"], error: "are the same model (weights digest"),
    // Named inputs that are FIFOs are refused at once, not read (which would block).
    .init(arguments: ["predict", "--model", "fifo.h5", "--dataset", "german", "--index", "0"], error: "fifo.h5: is a FIFO, not a regular file", fifos: ["fifo.h5"]),
    .init(arguments: ["import", "--from", "fifo.pth", "--arch", "digits-cnn", "--out", "x.h5"], error: "fifo.pth: is a FIFO, not a regular file", fifos: ["fifo.pth"]),
    // Sizes from option values are checked before anything is allocated.
    .init(arguments: ["import", "--from", "TEXT", "--arch", "digits-cnn", "--option", "classes=99999999999", "--out", "x.h5"], error: "digits-cnn: option classes=99999999999 is not an integer in 1 ... 100000"),
    .init(arguments: ["import", "--from", "TEXT", "--arch", "mlp", "--option", "inputs=100000", "--option", "hidden=100000", "--out", "x.h5"], error: "mlp: options inputs, hidden, classes make a layer of 100000 x 100000 weights, at most 100000000"),
    // File-system errors are one readable line.
    .init(arguments: ["explain", "--model", "CKPT", "--dataset", "german", "--method", "simplegrad", "--out", "TEXT"], error: "the output folder text.h5 is a file"),
    .init(arguments: ["attack-input", "--model", "CKPT", "--target", "topk"], error: "the topk target attacks image explanations; mlp takes table rows"),
    .init(arguments: ["attack-input", "--epsilon", "8/0"], error: "The value '8/0' is invalid for '--epsilon <epsilon>'"),
    .init(arguments: ["explain", "--model", "CKPT", "--dataset", "german", "--method", "kernelshap", "--background", "kmeans:0"],
          error: "background kmeans:0: kmeans:K takes K within 1...10000"),
    // No silent fallbacks.
    .init(arguments: ["finetune", "--dataset", "german", "--model", "CKPT", "--objective", "hide", "--data-dir", "/tmp"],
          error: "give one data source, not 2: data set german, ILSVRC-2012 folder /tmp (--dataset, --data-dir)"),
    .init(arguments: ["evaluate", "--model", "CKPT", "--dataset", "german", "--fsr", "--original", "CKPT", "--objective", "hide", "--shard", "0/2"],
          error: "a shard applies to streamed data (an ILSVRC-2012 folder) only (--shard, --data-dir)"),
    .init(arguments: ["train", "--dataset", "german"], error: "$MODELFOOL_DATASETS is set but empty: name the datasets folder, or unset it",
          emptyEnvironment: ["MODELFOOL_DATASETS"]),
    .init(arguments: ["predict", "--model", "CKPT", "--input", "TEXT"], error: "$MODELFOOL_MAX_PIXELS='': expected a positive whole number of pixels",
          emptyEnvironment: ["MODELFOOL_MAX_PIXELS"]),
    .init(arguments: ["sweep", "--lambda", "1"], error: "give the fine-tuning after --: sweep --lambda 1,10 -- finetune [flags]"),
    .init(arguments: ["sweep", "--", "finetune"], error: "give at least one of --lambda, --lr, --steps"),
    .init(arguments: ["sweep", "--lambda", "1", "--", "finetune", "--bogus"], error: "finetune: Unknown option '--bogus'"),
    .init(arguments: ["sweep", "--lambda=-1", "--", "finetune", "--dataset", "german", "--model", "CKPT", "--objective", "hide"], error: "lambda must be a finite number >= 0, got -1.0 (--lambda)"),
    // Budgets checked from what a file declares, before reading: an HDF5 image stack's decoded
    // size (14 KB declaring 1,500 images of 224 x 224), a zip entry's inflated size.
    .init(arguments: ["evaluate", "--model", "FIXTURES/onnx_tiny_cnn_op18.onnx", "--h5", "FIXTURES/hostile_many_images.h5"],
          error: "hostile_many_images.h5: 1500 images of 224x224 pixels decode to 1128960000 bytes, over the budget of 1073741824 bytes per file (set MODELFOOL_MAX_DECODED_BYTES to raise it)"),
    .init(arguments: ["evaluate", "--model", "FIXTURES/onnx_tiny_cnn_op18.onnx", "--h5", "FIXTURES/hostile_many_images.h5"],
          error: "$MODELFOOL_MAX_DECODED_BYTES='lots': expected a positive whole number of bytes (default 1073741824)",
          environment: ["MODELFOOL_MAX_DECODED_BYTES": "lots"]),
    .init(arguments: ["import", "--from", "FIXTURES/hostile_entry.pth", "--arch", "digits-cnn", "--out", "x.h5"],
          error: "zip entry archive/data/0: declares 3000000000 uncompressed bytes, over the limit of 2147483648 bytes for a deflated entry",
          progress: ["reading "]),
    // A run claims the folder of the files it writes before its first step.
    .init(arguments: ["audit", "calibrate", "--models", "CKPT,CKPT,CKPT", "--out", "text.h5/cal.json"], error: "the output folder text.h5 is a file"),
    .init(arguments: ["audit", "adaptive", "--model", "CKPT", "--out", "text.h5/a.h5"], error: "the output folder text.h5 is a file"),
    .init(arguments: ["audit", "sanity", "--model", "CKPT", "--out", "TEXT"], error: "the output folder text.h5 is a file"),
    .init(arguments: ["evaluate", "--fsr", "--model", "CKPT", "--save-maps", "text.h5/m.h5"], error: "the output folder text.h5 is a file"),
  ]

  @Test(arguments: table) func oneLineErrorAndAFailureCode(_ bad: BadInvocation) throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    try "not a checkpoint\n".write(toFile: folder + "/text.h5", atomically: true, encoding: .utf8)
    for (name, text) in bad.files { try text.write(toFile: folder + "/" + name, atomically: true, encoding: .utf8) }
    for name in bad.fifos { #expect(mkfifo(folder + "/" + name, 0o600) == 0) }
    let model = try CLI.germanCheckpoint.get()
    let arguments = bad.arguments.map {
      $0 == "TEXT" ? "text.h5" : $0.replacingOccurrences(of: "CKPT", with: model).replacingOccurrences(of: "FIXTURES/", with: CLI.packageRoot + "/Tests/Fixtures/")
    }
    let launcher = bad.emptyEnvironment.isEmpty ? [] : ["/usr/bin/env"] + bad.emptyEnvironment.map { $0 + "=" }
    let r = try CLI.run(arguments, in: folder, environment: bad.environment, launcher: launcher)
    // Never a trap or a signal (132 SIGILL, 134 SIGABRT, 139 SIGSEGV as a shell reports them).
    #expect(!r.signalled && ![132, 134, 139].contains(r.status), "exit \(r.status)")
    let check = {
      #expect(r.status != 0, "exit \(r.status)")
      let lines = r.stderr.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\n", omittingEmptySubsequences: false)
      #expect(lines.count == 1 + bad.progress.count, "stderr: \(r.stderr)")
      for (line, start) in zip(lines, bad.progress) { #expect(line.hasPrefix(start), "stderr: \(r.stderr)") }
      #expect(lines.last?.hasPrefix("Error: ") == true && r.stderr.contains(bad.error), "stderr: \(r.stderr)")
    }
    if let note = bad.knownIssue { withKnownIssue(Comment(rawValue: note)) { check() } } else { check() }
  }
}

@Suite("modelfool binary: runs own their folder")
struct CLIRunFolderTests {
  /// A second run into the folder of a running one, or a second resumption of it, fails at once
  /// naming the holder (here this test process, which holds the folder's lock as a run would).
  @Test func aSecondRunIntoAHeldFolderFailsAtOnce() throws {
    let model = try CLI.germanCheckpoint.get()
    let folder = try CLI.temporaryFolder()
    try FileManager.default.createDirectory(atPath: folder + "/run", withIntermediateDirectories: false)
    let lock = open(folder + "/run/.modelfool.lock", O_RDWR | O_CREAT, 0o644)
    #expect(lock >= 0 && flock(lock, LOCK_EX | LOCK_NB) == 0)
    defer { close(lock) }
    _ = Array("\(getpid())\n".utf8).withUnsafeBytes { pwrite(lock, $0.baseAddress, $0.count, 0) }
    let runs = [
      ["finetune", "--dataset", "german", "--model", model, "--objective", "hide", "--steps", "1", "--out", "run"],
      ["finetune", "--resume", "run"],
      ["explain", "--model", model, "--dataset", "german", "--method", "simplegrad", "--count", "1", "--out", "run"],
      ["attack-input", "--model", model, "--count", "2", "--steps", "1", "--out", "run"],
      ["audit", "sanity", "--model", model, "--count", "2", "--out", "run"],
      ["audit", "calibrate", "--models", "\(model),\(model),\(model)", "--count", "16", "--out", "run/calibration.json"],
      ["audit", "adaptive", "--model", model, "--out", "run/adaptive.h5"],
      ["evaluate", "--fsr", "--model", model, "--save-maps", "run/maps.h5"],
      ["evaluate", "--fsr", "--model", model, "--shard", "0/2", "--counts", "run/counts.json"],
    ]
    for arguments in runs {
      let r = try CLI.run(arguments, in: folder)
      #expect(r.status != 0, "\(arguments)")
      let lines = r.stderr.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\n")
      #expect(lines.count == 1 && lines[0].hasPrefix("Error: another run is writing into run (process \(getpid())"), "\(r.stderr)")
    }
    // Nothing was written beside the lock.
    #expect(try FileManager.default.contentsOfDirectory(atPath: folder + "/run") == [".modelfool.lock"])
  }
}
