import Foundation
import ModelFool
import ModelFoolData
import ModelFoolTraining
import Testing

/// The scaffold as one checkpoint (architecture `scaffold`): it loads with its switch, its
/// threshold and its seen-value table, and hostile variants give one-line errors.
@Suite("Scaffold checkpoints")
struct ScaffoldModelTests {
  static func folder() throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("scaffold-model-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
  }

  /// A scaffold of the twelve Adult-like rows with two decoys; its threshold is the median of the
  /// detector's P(real) over 64 random rows, so both branches answer some of them.
  static func scaffold() throws -> (ScaffoldNetwork, Tensor, ScaffoldData) {
    let data = try ScaffoldData(split: ScaffoldTests.rows(), sensitive: "sex", innocuous: .twoDecoys, seed: 2)
    let trained = try ScaffoldRun.build(data: data, settings: ScaffoldTests.quick, background: ScaffoldRun.background(data: data, settings: ScaffoldTests.quick))
    var generator = SeededGenerator(seed: 4)
    let x = Tensor(shape: [64, 7], scalars: (0..<(64 * 7)).map { _ in Float(generator.next() % 401) / 100 - 2 })
    let p = trained.detector(x).softmax(alongAxis: -1).scalars
    let real = (0..<64).map { p[2 * $0] }.sorted()
    let network = ScaffoldNetwork(
      biased: trained.biased, innocuous: trained.innocuous, detector: trained.detector, threshold: real[32], seenValues: nil)
    return (network, x, data)
  }

  @Test func aScaffoldCheckpointLoadsWithItsSwitch() throws {
    let (network, x, data) = try Self.scaffold()
    let dir = try Self.folder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let model = network.model()
    #expect(model.architecture == "scaffold")
    #expect(model.namedParameters().map(\.name).sorted() == [
      "biased.0.bias", "biased.0.weight", "detector.0.bias", "detector.0.weight", "detector.2.bias", "detector.2.weight",
      "innocuous.0.bias", "innocuous.0.weight",
    ])
    try Checkpoint.save(model, to: dir + "/s.h5")
    let loaded = try Checkpoint.load(dir + "/s.h5")
    let switchNetwork = try #require(loaded.network as? ScaffoldNetwork)
    #expect(switchNetwork.threshold == network.threshold && switchNetwork.seenValues == nil)
    #expect(loaded.featureNames == network.biased.featureNames && loaded.classNames == data.split.train.classNames)
    // Same switch, same logits: f's on the 32 rows the detector passes, psi's on the others.
    let inside = switchNetwork.inDistribution(x)
    #expect(inside == network.inDistribution(x) && inside.filter { $0 }.count == 32)
    let (e, f, psi) = (loaded(x).scalars, network.biased(x).scalars, network.innocuous(x).scalars)
    #expect(e == network(x).scalars)
    for r in 0..<64 { #expect(Array(e[(2 * r)..<(2 * r + 2)]) == Array((inside[r] ? f : psi)[(2 * r)..<(2 * r + 2)]), "row \(r)") }
    // Gradients flow through the branch that answered, never through the detector.
    let g = valueWithGradient(at: [x]) { loaded($0[0]).sum() }.gradients[0].scalars
    for r in 0..<64 {
      // f: 1000 on column 1 of the unfavourable logit (0); psi: 1000 on each decoy column (5, 6).
      let expected: [Float] = inside[r] ? [0, 1000, 0, 0, 0, 0, 0] : [0, 0, 0, 0, 0, 1000, 1000]
      #expect(Array(g[(7 * r)..<(7 * r + 7)]) == expected, "row \(r)")
    }
  }

  @Test func theSeenValueTableTravelsInTheCheckpoint() throws {
    let (trained, _, data) = try Self.scaffold()
    let seen = SeenValues(train: data.split.train.inputs, features: data.split.train.features)
    let network = ScaffoldNetwork(biased: trained.biased, innocuous: trained.innocuous, detector: trained.detector, threshold: 0.25, seenValues: seen)
    let dir = try Self.folder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try Checkpoint.save(network.model(), to: dir + "/s.h5")
    let loaded = try #require(try Checkpoint.load(dir + "/s.h5").network as? ScaffoldNetwork)
    // hours takes 12 values in 12 rows: not lattice-like; the decoys take 2 values each (rows per
    // value 6 < 10): not checked either. So the table is empty, and the threshold 0.25 exact.
    #expect(loaded.threshold == 0.25 && loaded.seenValues == nil && seen.columns.isEmpty)
    // A table with one column round-trips exactly.
    let one = SeenValues(train: Tensor(shape: [30, 7], scalars: (0..<210).map { Float($0 % 7 == 0 ? ($0 / 7) % 3 : 0) / 3 }), features: data.split.train.features)
    // Column 0 takes 3 values in 30 rows, the decoy columns one (0): checked; hours... one-hots not.
    #expect(one.columns.map(\.column) == [0, 5, 6] && one.columns[0].values == [0, Float(1) / 3, Float(2) / 3] && one.columns[1].values == [0])
    let withTable = ScaffoldNetwork(biased: trained.biased, innocuous: trained.innocuous, detector: trained.detector, threshold: 0.5, seenValues: one)
    try Checkpoint.save(withTable.model(), to: dir + "/t.h5")
    let back = try #require(try Checkpoint.load(dir + "/t.h5").network as? ScaffoldNetwork)
    #expect(back.seenValues == one)
  }

  /// A layer with the named children only (a scaffold missing an inner model's weights).
  final class Parts: Layer {
    let parts: [(name: String, layer: any Layer)]
    init(_ parts: [(name: String, layer: any Layer)]) { self.parts = parts }
    func callAsFunction(_ x: Tensor) -> Tensor { x }
    var children: [(name: String, layer: any Layer)] { parts }
    func deepCopy() -> Parts { Parts(parts) }
  }

  @Test func hostileScaffoldCheckpointsGiveOneLineErrors() throws {
    let (network, _, _) = try Self.scaffold()
    let dir = try Self.folder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let good = network.model()
    func failure(_ config: [String: String], network: (any Layer)? = nil) throws -> String {
      let model = Model(network: network ?? good.network, architecture: "scaffold", config: config, inputShape: good.inputShape)
      try Checkpoint.save(model, to: dir + "/bad.h5")
      do {
        _ = try Checkpoint.load(dir + "/bad.h5")
        return "loaded"
      } catch { return "\(error)" }
    }
    var config = good.config
    config["detector"] = nil
    #expect(try failure(config) == "scaffold: missing option 'detector'")
    // The innocuous model over 6 columns instead of 7.
    config = good.config
    config["innocuous"] = #"{"architecture":"mlp","config":{"classes":"2","hidden":"","inputs":"6","seed":"0"}}"#
    #expect(try failure(config) == "scaffold: the inner models take rows of different shapes (biased [7], innocuous [6], detector [7])")
    // A three-class innocuous model.
    config["innocuous"] = #"{"architecture":"mlp","config":{"classes":"3","hidden":"","inputs":"7","seed":"0"}}"#
    #expect(try failure(config).hasPrefix("scaffold: the biased and innocuous models must give the same number of classes"))
    config = good.config
    config["biased"] = #"{"architecture":"scaffold","config":{}}"#
    #expect(try failure(config) == "scaffold: the biased model may not itself be a scaffold")
    config = good.config
    config["biased"] = "[1, 2"
    #expect(try failure(config).hasPrefix("scaffold: option biased is not {\"architecture\": NAME, \"config\": {...}}"))
    config = good.config
    config["threshold"] = "nan"
    #expect(try failure(config) == "scaffold: option threshold=nan is not in 0 ... 1")
    config = good.config
    config["seen"] = #"[{"column":9,"values":[0,1]}]"#
    #expect(try failure(config) == "scaffold: seen-value column 9 is outside 0..<7 or given twice")
    config["seen"] = #"[{"column":0,"values":[1,0]}]"#
    #expect(try failure(config) == "scaffold: the seen values of column 0 are not finite and strictly increasing")
    // The detector's weights missing from the file.
    let partial = Parts([("biased", network.biased), ("innocuous", network.innocuous)])
    #expect(try failure(good.config, network: partial).contains("does not fit scaffold: missing detector.0.bias, detector.0.weight, detector.2.bias, detector.2.weight"))
  }
}
