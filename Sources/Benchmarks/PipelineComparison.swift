import Foundation

/// `modelfool bench pipeline`: images per second of ``PipelineBenchmark`` beside the Pillow +
/// numpy peer on the same files, for each thread count (and decoding mode), in alternating
/// rounds of one pass each; medians over rounds.
public struct PipelineComparison {
  public var files: [String]
  public var folder: String
  public var repeats = 10
  public var threadCounts = [1, 2]
  public var rounds = 3
  /// Also measure decoding at a reduced DCT scale (libjpeg's scaling, Pillow's draft).
  public var dctScaling = false
  /// The peer script (nil: not run).
  public var peer: String? = "bench/peers/pillow_pipeline.py"

  public init(folder: String) throws {
    self.folder = folder
    files = try PipelineBenchmark.imageFiles(in: folder)
  }

  /// What was measured; `*_per_second` are medians over the rounds.
  public struct Report: Encodable, Sendable {
    public struct Row: Encodable, Sendable {
      public var mode: String
      public var threads: Int
      public var imagesPerSecond: Double
      public var peerImagesPerSecond: Double?
      public var ratioVsPillow: Double?
      /// Each round's rate (ours, then the peer's).
      public var rounds: [Double]
      public var peerRounds: [Double]
    }
    /// Images per timed pass.
    public var images: Int
    public var results: [Row]
  }

  /// Runs the rounds, logging why the peer did not run if it did not, then each row.
  public func run(log: (String) -> Void) throws -> Report {
    log("\(files.count) images x \(repeats) per pass, \(rounds) round(s), alternating with the peer")
    var rows: [(mode: String, threads: Int, ours: [Double], peer: [Double])] = []
    for scaled in dctScaling ? [false, true] : [false] {
      for t in threadCounts { rows.append((scaled ? "dct-scaled" : "exact", t, [], [])) }
    }
    var peerFailure: String?
    for _ in 0..<rounds {
      for index in rows.indices {
        let scaled = rows[index].mode == "dct-scaled", t = rows[index].threads
        rows[index].ours.append(try PipelineBenchmark.measure(files: files, repeats: repeats, threads: t, passes: 1, dctScaling: scaled).median)
        guard let peer, peerFailure == nil else { continue }
        let arguments = ["--folder", folder, "--repeats", "\(repeats)", "--threads", "\(t)", "--passes", "1"] + (scaled ? ["--draft"] : [])
        switch PeerScript.run(peer, arguments: arguments, keys: ["images_per_second"]) {
        case .success(let values): rows[index].peer.append(values["images_per_second"]!)
        case .failure(let error): peerFailure = error.description
        }
      }
    }
    if let peerFailure { log("peer not run: \(peerFailure)") }
    func median(_ values: [Double]) -> Double? { values.isEmpty ? nil : values.sorted()[values.count / 2] }
    let results = rows.map { row in
      let ours = median(row.ours)!, peer = median(row.peer)
      return Report.Row(
        mode: row.mode, threads: row.threads, imagesPerSecond: ours, peerImagesPerSecond: peer,
        ratioVsPillow: peer.map { ours / $0 }, rounds: row.ours, peerRounds: row.peer)
    }
    for row in results {
      func range(_ values: [Double]) -> String { values.isEmpty ? "-" : String(format: "%.0f-%.0f", values.min()!, values.max()!) }
      log(String(format: "%@, %d thread(s): modelfool %.1f images/s (%@)", row.mode, row.threads, row.imagesPerSecond, range(row.rounds))
        + (row.peerImagesPerSecond.map {
          String(format: "; Pillow %.1f (%@); ratio modelfool / Pillow %.2fx", $0, range(row.peerRounds), row.ratioVsPillow!)
        } ?? ""))
    }
    return Report(images: files.count * repeats, results: results)
  }
}
