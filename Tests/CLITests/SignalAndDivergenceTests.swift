import Foundation
import Testing

/// SIGTERM ends a run with status 143 and leaves nothing half-written (a fine-tuning first saves
/// its resumable state); a diverged fine-tuning fails without writing unless `--allow-divergence`.
@Suite("modelfool binary: signals and divergence")
struct CLISignalAndDivergenceTests {
  /// Runs `arguments` in `folder`, sends SIGTERM after 1.5 s, returns the exit status and stderr.
  func terminated(_ arguments: [String], in folder: String) throws -> (status: Int32, stderr: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: CLI.binary)
    process.arguments = arguments
    var environment = ProcessInfo.processInfo.environment
    environment["MODELFOOL_DATASETS"] = CLI.packageRoot + "/datasets"
    process.environment = environment
    process.currentDirectoryURL = URL(fileURLWithPath: folder)
    let errors = Pipe()
    process.standardError = errors
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    Thread.sleep(forTimeInterval: 1.5)
    process.terminate()  // SIGTERM
    let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    #expect(process.terminationReason == .exit, "\(stderr)")
    return (process.terminationStatus, stderr)
  }

  @Test func sigtermEndsTrainingLeavingNothing() throws {
    let folder = try CLI.temporaryFolder()
    let r = try terminated(["train", "--dataset", "adult", "--epochs", "1000", "--out", "out/adult.h5"], in: folder)
    #expect(r.status == 143, "\(r.stderr)")
    #expect(r.stderr.hasSuffix("Error: terminated; its temporary files were removed\n"), "\(r.stderr)")
    #expect((try? FileManager.default.contentsOfDirectory(atPath: folder + "/out")) ?? [] == [])
  }

  @Test func sigtermStopsFineTuningWithItsStateSaved() throws {
    let model = try CLI.germanCheckpoint.get()
    let folder = try CLI.temporaryFolder()
    let r = try terminated(
      ["finetune", "--dataset", "german", "--model", model, "--objective", "hide", "--steps", "1000000", "--out", "run"], in: folder)
    #expect(r.status == 143, "\(r.stderr)")
    let line = r.stderr.split(separator: "\n").last.map(String.init) ?? ""
    #expect(line.hasPrefix("Error: interrupted after step ") && line.hasSuffix("state saved in run/state, continue by resuming run"), "\(line)")
    // Only the resumable state: no staging folder, lock or temporary file is left.
    #expect(try FileManager.default.contentsOfDirectory(atPath: folder + "/run") == ["state"])
    #expect(try FileManager.default.contentsOfDirectory(atPath: folder + "/run/state").sorted() == ["adam.h5", "weights.h5"])
  }

  @Test func divergedFineTuningExitsNonZeroUnlessAllowed() throws {
    let folder = try CLI.temporaryFolder()
    let train = try CLI.run(["train", "--dataset", "adult", "--epochs", "2", "--out", "adult.h5", "--json"], in: folder)
    #expect(train.status == 0, "\(train.stderr)")
    let arguments = [
      "finetune", "--dataset", "adult", "--model", "adult.h5", "--objective", "location", "--sensitive", "age",
      "--lr", "1e5", "--keep-outputs", "0", "--steps", "10", "--eval-count", "500", "--methods", "simplegrad", "--out", "run",
    ]
    let failed = try CLI.run(arguments, in: folder)
    #expect(failed.status == 1)
    let line = failed.stderr.split(separator: "\n").last.map(String.init) ?? ""
    #expect(line.hasPrefix("Error: the fine-tuning diverged: held-out accuracy fell to 0.") && line.hasSuffix("(--lr, --lambda, --allow-divergence)"), "\(line)")
    #expect(!FileManager.default.fileExists(atPath: folder + "/run"))
    let allowed = try CLI.run(arguments + ["--allow-divergence"], in: folder)
    #expect(allowed.status == 0, "\(allowed.stderr)")
    #expect(FileManager.default.fileExists(atPath: folder + "/run/model.h5"))
  }
}
