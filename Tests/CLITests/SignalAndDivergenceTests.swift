import Foundation
import Testing

/// SIGTERM ends a run with status 143 and leaves nothing behind; a diverged fine-tuning fails
/// without writing unless `--allow-divergence`.
@Suite("modelfool binary: signals and divergence")
struct CLISignalAndDivergenceTests {
  @Test func sigtermExits143LeavingNothing() throws {
    let model = try CLI.germanCheckpoint.get()
    let folder = try CLI.temporaryFolder()
    let process = Process()
    process.executableURL = URL(fileURLWithPath: CLI.binary)
    process.arguments = ["finetune", "--dataset", "german", "--model", model, "--objective", "hide", "--steps", "1000000", "--out", "run"]
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
    #expect(process.terminationReason == .exit && process.terminationStatus == 143, "\(stderr)")
    #expect(stderr.hasSuffix("Error: terminated; its temporary files were removed\n"), "\(stderr)")
    #expect(!FileManager.default.fileExists(atPath: folder + "/run"))
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
    #expect(line.hasPrefix("Error: the fine-tuning diverged: held-out accuracy fell to 0.") && line.hasSuffix("(--lr, --lambda)"), "\(line)")
    #expect(!FileManager.default.fileExists(atPath: folder + "/run"))
    let allowed = try CLI.run(arguments + ["--allow-divergence"], in: folder)
    #expect(allowed.status == 0, "\(allowed.stderr)")
    #expect(FileManager.default.fileExists(atPath: folder + "/run/model.h5"))
  }
}
