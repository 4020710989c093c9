// Data parallelism over MPI: `mpirun -n 2 modelfool ...` against one process. Skipped (with a
// note) when Open MPI's `mpirun` is missing; `make test` installs it (openmpi-bin).

import Foundation
import ModelFoolData
import Testing

enum MPI {
  /// `mpirun` on the PATH, or nil.
  static let mpirun: String? = {
    let paths = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
    return paths.map { "\($0)/mpirun" }.first { FileManager.default.isExecutableFile(atPath: $0) }
  }()

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
}

@Suite("modelfool over MPI", .enabled(if: MPI.mpirun != nil, "mpirun is missing: install openmpi-bin (make setup) to run the MPI tests"))
struct MPITests {
  /// 20 fine-tuning steps of the digits CNN's Grad-CAM (location), global batch 8: two ranks of 4
  /// rows each reach the weights of one process of 8. Not bit-identical: each rank's gradient is
  /// the mean over its 4 rows, and their weighted sum rounds otherwise than one mean over 8.
  @Test func twoRanksFineTuneAsOneProcess() throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let base = try CLI.run(["train", "--dataset", "digits", "--epochs", "1", "--out", "d.h5", "--threads", "1"], in: folder)
    try #require(base.status == 0, "\(base.stderr)")
    let common = ["finetune", "--dataset", "digits", "--model", "d.h5", "--objective", "location", "--steps", "20",
                  "--batch-size", "8", "--methods", "gradcam", "--eval-count", "16", "--allow-divergence", "--threads", "1", "--json"]
    let one = try CLI.run(common + ["--out", "one"], in: folder)
    try #require(one.status == 0, "\(one.stderr)")
    let two = try CLI.run(common + ["--out", "two"], in: folder, launcher: MPI.twoRanks)
    try #require(two.status == 0, "\(two.stderr)")
    let difference = try MPI.maxRelativeDifference(folder + "/one/model.h5", folder + "/two/model.h5")
    print("MPI fine-tuning, 2 ranks vs 1 process after 20 steps: max relative weight difference \(difference)")
    #expect(difference < 1e-5)
    // Rank 0 alone printed: one JSON object.
    #expect(two.stdout.split(separator: "\n").count == 1)

    // `evaluate --fsr` of the fine-tuned model: two ranks score contiguous shards of whole batches
    // and merge the counts, which equals one process's evaluation exactly.
    let evaluate = ["evaluate", "--fsr", "--model", "one/model.h5", "--eval-count", "150", "--methods", "gradcam,simplegrad",
                    "--threads", "1", "--json"]
    let e1 = try CLI.run(evaluate, in: folder)
    let e2 = try CLI.run(evaluate, in: folder, launcher: MPI.twoRanks)
    try #require(e1.status == 0 && e2.status == 0, "\(e1.stderr)\n\(e2.stderr)")
    #expect(e1.stdout == e2.stdout)
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
