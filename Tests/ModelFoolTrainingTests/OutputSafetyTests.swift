import Foundation
import ModelFool
import ModelFoolData
import ModelFoolTraining
import Testing

/// Run outputs: one writer per folder, nothing but files and folders replaced, temporary paths
/// listed for signal handlers, one-line file errors; diverged fine-tunings write nothing.
@Suite("Output safety")
struct OutputSafetyTests {
  static func temporaryFolder() -> String {
    let path = NSTemporaryDirectory() + "modelfool-safety-\(UUID().uuidString)"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
  }

  /// `evaluate --shard --save-maps`: the count file goes into place only once the maps are saved,
  /// so a failed map write leaves neither; both go when both can.
  @Test func evaluationMapsAndCountsAreWrittenBothOrNeither() throws {
    let folder = Self.temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let countsText = #"{"examples":1,"format":"modelfool-fsr-counts","methods":[],"model_digests":["aaaaaaaa","bbbbbbbb"],"objective":"location","setup":"{}","shard":"0/2","skipped_files":0,"statistic":"location","success_range":"<= 0.2","top1":{"fooled":0,"original":0},"top5":{"fooled":1,"original":1}}"#
    let counts = try RunJSON.decode(FoolingCounts.self, from: countsText, what: "counts")
    let arrays = [NamedArray(name: "gradcam_fooled", shape: [2], values: .float([1, 2])), NamedArray(name: "labels", ints: [0, 1])]
    let outcome = EvaluationOutcome(evaluation: counts.evaluation(), arrays: arrays, counts: counts)
    // A folder where the second .npy file goes: the maps fail, and no count file appears.
    try FileManager.default.createDirectory(atPath: folder + "/m.labels.npy", withIntermediateDirectories: false)
    #expect(throws: DataError.self) { try outcome.write(maps: folder + "/m.npy", counts: folder + "/c.json") }
    #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["m.labels.npy"])
    try FileManager.default.removeItem(atPath: folder + "/m.labels.npy")
    let written = try outcome.write(maps: folder + "/m.npy", counts: folder + "/c.json")
    #expect(written == [folder + "/m.npy", folder + "/m.labels.npy", folder + "/c.json"])
    #expect(try FoolingCounts.load(folder + "/c.json").examples == 1)
    // One claim per folder, however it is written; a folder another run holds fails at once.
    let claims = try RunFolderClaim.claims(holding: [folder + "/m.npy", folder + "/./c.json", folder + "/sub/x.h5"])
    #expect(claims.map(\.folder) == [folder, folder + "/sub"])
    #expect { try RunFolderClaim(holding: folder + "/other.h5") } throws: { "\($0)".contains("another run is writing into \(folder)") }
    claims.forEach { $0.release() }
    #expect(!FileManager.default.fileExists(atPath: folder + "/sub"))
  }

  @Test func secondWriterFailsAtOnceNamingTheHolder() throws {
    let folder = Self.temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    try RunOutputs.write(into: folder) { staging in
      try RunOutputs.writeText("first", to: staging + "/a.txt")
      // The staging folder and the lock file are listed for a signal handler while they exist.
      #expect(TemporaryPaths.registered.contains(staging) && TemporaryPaths.registered.contains(folder + "/.modelfool.lock"))
      #expect { try RunOutputs.write(into: folder) { _ in } } throws: { error in
        oneLine(error) == "another run is writing into \(folder) (process \(getpid()) (\(Self.commandName)) holds \(folder)/.modelfool.lock)"
      }
    }
    #expect(try String(contentsOfFile: folder + "/a.txt", encoding: .utf8) == "first")
    #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["a.txt"])
    #expect(!TemporaryPaths.registered.contains { $0.hasPrefix(folder) })
    // Released: the next run goes ahead.
    try RunOutputs.write(into: folder) { try RunOutputs.writeText("second", to: $0 + "/a.txt") }
    #expect(try String(contentsOfFile: folder + "/a.txt", encoding: .utf8) == "second")
  }

  @Test func aClaimHoldsTheFolderFromTheFirstStepToTheLastFile() throws {
    let parent = Self.temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: parent) }
    let folder = parent + "/run"
    let claim = try RunFolderClaim(folder)
    // A second claim (another run, or a second resumption) fails at once, naming the holder.
    #expect { try RunFolderClaim(parent + "/./run") } throws: { error in
      oneLine(error) == "another run is writing into \(parent)/./run (process \(getpid()) (\(Self.commandName)) holds \(parent)/./run/.modelfool.lock)"
    }
    // The run's own outputs go in under its claim.
    try RunOutputs.write(into: folder) { try RunOutputs.writeText("x", to: $0 + "/report.json") }
    #expect(try FileManager.default.contentsOfDirectory(atPath: folder).sorted() == [".modelfool.lock", "report.json"])
    claim.release()
    claim.release()  // once only
    #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["report.json"])
    // A folder the claim made is removed again when the run ends without writing.
    let empty = try RunFolderClaim(parent + "/empty")
    empty.release()
    #expect(!FileManager.default.fileExists(atPath: parent + "/empty"))
    #expect { try RunFolderClaim(folder + "/report.json") } throws: { oneLine($0) == "the output folder \(folder)/report.json is a file" }
  }

  @Test func npyMapsAreWrittenAllOrNothing() throws {
    let folder = Self.temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let arrays = [NamedArray(name: "heatmaps", tensor: Tensor(shape: [2], scalars: [1, 2])), NamedArray(name: "raw", tensor: Tensor(shape: [1], scalars: [3]))]
    // The second file's place is taken by a folder: the first must not be written either.
    try FileManager.default.createDirectory(atPath: folder + "/maps.raw.npy", withIntermediateDirectories: false)
    #expect { try ArrayExport.save(arrays, to: folder + "/maps.npy") } throws: {
      oneLine($0) == "refusing to replace \(folder)/maps.raw.npy: it is a folder, not a regular file"
    }
    #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["maps.raw.npy"])
    try FileManager.default.removeItem(atPath: folder + "/maps.raw.npy")
    #expect(try ArrayExport.save(arrays, to: folder + "/maps.npy") == [folder + "/maps.npy", folder + "/maps.raw.npy"])
    #expect(try FileManager.default.contentsOfDirectory(atPath: folder).sorted() == ["maps.npy", "maps.raw.npy"])
  }

  static var commandName: String {
    (try? String(contentsOfFile: "/proc/self/comm", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
  }

  @Test func devicesAndFIFOsAreNeverReplaced() throws {
    #expect { try RunOutputs.write(into: "/dev/full") { _ in } } throws: {
      oneLine($0) == "the output folder /dev/full is not a regular folder (a device, FIFO or socket)"
    }
    let folder = Self.temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    #expect(mkfifo(folder + "/report.json", 0o644) == 0)
    #expect { try RunOutputs.write(into: folder) { try RunOutputs.writeText("{}", to: $0 + "/report.json") } } throws: {
      oneLine($0) == "refusing to replace \(folder)/report.json: it is a FIFO, not a regular file or folder"
    }
    // Nothing moved, no staging folder or lock file left.
    #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["report.json"])
    #expect { try RunOutputs.writeText("x", to: folder + "/no/such/file.txt") } throws: {
      oneLine($0) == "cannot write \(folder)/no/such/file.txt: no such file or directory"
    }
  }

  @Test func removeAllDeletesListedPaths() throws {
    let folder = Self.temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    try FileManager.default.createDirectory(atPath: folder + "/.staging-x", withIntermediateDirectories: false)
    try RunOutputs.writeText("half", to: folder + "/.staging-x/model.h5")
    TemporaryPaths.register(folder + "/.staging-x")
    TemporaryPaths.register(folder + "/.staging-x/model.h5")
    // Only this test's paths: removeAll() would also delete what tests running beside it listed.
    #expect(TemporaryPaths.removeAll(where: { $0.hasPrefix(folder) }).count == 2)
    #expect(try FileManager.default.contentsOfDirectory(atPath: folder).isEmpty)
  }

  /// Adam at a learning rate of 1e5 without the output-keeping term wrecks an adult MLP: the run
  /// throws (nothing to write) unless divergence is allowed.
  @Test func divergedFineTuningFails() throws {
    let folder = Self.temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let base = try RunTests.shortBase("adult", epochs: 2, in: folder).path
    var settings = FineTuneSettings()
    settings.dataset = "adult"
    settings.model = base
    settings.objective = "location"
    settings.sensitive = ["age"]
    settings.learningRate = 1e5
    settings.keepOutputs = 0
    settings.steps = 10
    settings.evalCount = 500
    settings.scored = [.simpleGrad]
    #expect { _ = try FineTuneRun(settings: settings, datasetsRoot: "datasets").run() } throws: { error in
      let text = oneLine(error)
      return (error as? TrainingError)?.settings.prefix(2) == ["learningRate", "lambda"]
        && text.hasPrefix("the fine-tuning diverged: held-out accuracy fell to 0.")
        && text.contains("at chance for 2 classes (the majority class's share 0.")
    }
    settings.allowDivergence = true
    let outcome = try FineTuneRun(settings: settings, datasetsRoot: "datasets").run()
    #expect(outcome.report.evaluation.accuracy.fooled < outcome.report.evaluation.accuracy.original - 0.2)
  }
}
