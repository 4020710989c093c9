import Foundation
import ModelFool
import ModelFoolTraining
import TestSupport
import Testing

/// Function-preserving widening of the tabular MLP (`finetune --widen`): the widened model's
/// logits equal the original's, its weights hold the original's in the corner with zero blocks
/// where old units would read new ones, and it round-trips through a checkpoint.
@Suite("MLP widening")
struct WideningTests {
  static func mlp(hidden: String) throws -> Model {
    let model = try ModelZoo.build(architecture: "mlp", options: ["inputs": "6", "hidden": hidden, "seed": "4"])
    model.classNames = ["a", "b"]
    model.explanationReference = randomTensor([5, 6], seed: 2)
    return model
  }

  @Test(arguments: ["8,5", "7"])
  func widenedModelComputesTheOriginalsLogits(hidden: String) throws {
    let model = try Self.mlp(hidden: hidden)
    let wide = try MLPWidening.widen(model, by: 3, seed: 9)
    let sizes = hidden.split(separator: ",").map { Int($0)! + 3 }
    #expect(wide.config["hidden"] == sizes.map(String.init).joined(separator: ","))
    #expect(wide.classNames == model.classNames && wide.targetLayer == model.targetLayer)
    #expect(wide.explanationReference?.scalars == model.explanationReference?.scalars)
    let x = randomTensor([64, 6], seed: 11, low: -3, high: 3)
    let (a, b) = withoutRecording { (model(x), wide(x)) }
    #expect(a.shape == b.shape)
    #expect(closeness(a, b, rtol: 1e-6, atol: 1e-6) <= 1)
    // The corner is the original's weight, bit for bit; old units and the output read no new unit.
    let old = model.namedParameters(), new = wide.namedParameters()
    for (p, q) in zip(old, new) where p.parameter.shape.count == 2 {
      let (o, i, i2) = (p.parameter.shape[0], p.parameter.shape[1], q.parameter.shape[1])
      let (s, w) = (p.parameter.value.scalars, q.parameter.value.scalars)
      for r in 0..<o {
        #expect(Array(w[(r * i2)..<(r * i2 + i)]) == Array(s[(r * i)..<(r * i + i)]), "\(p.name) row \(r)")
        #expect(w[(r * i2 + i)..<(r * i2 + i2)].allSatisfy { $0 == 0 }, "\(p.name) row \(r)")
      }
      // The new units' incoming weights are not all zero (they must be able to learn).
      if q.parameter.shape[0] > o { #expect(w[(o * i2)...].contains { $0 != 0 }, "\(p.name)") }
    }
    // Not a copy in disguise: more parameters than the original.
    #expect(wide.parameterCount > model.parameterCount)
  }

  @Test func widenedModelRoundTripsThroughACheckpoint() throws {
    let wide = try MLPWidening.widen(try Self.mlp(hidden: "8,5"), by: 4, seed: 1)
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("modelfool-widen-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("wide.h5").path
    try Checkpoint.save(wide, to: path)
    let loaded = try Checkpoint.load(path)
    #expect(loaded.config["hidden"] == "12,9")
    let x = randomTensor([16, 6], seed: 5, low: -2, high: 2)
    let (a, b) = withoutRecording { (wide(x), loaded(x)) }
    #expect(a.scalars.map(\.bitPattern) == b.scalars.map(\.bitPattern))
  }

  @Test func widenRefusesOtherModelsAndSizes() throws {
    let cnn = try ModelZoo.build(architecture: "digits-cnn", options: ["channels": "4,4,8"])
    #expect { try MLPWidening.widen(cnn, by: 2, seed: 0) } throws: { "\($0)".contains("architecture 'mlp'") }
    let model = try Self.mlp(hidden: "7")
    #expect { try MLPWidening.widen(model, by: 0, seed: 0) } throws: { "\($0)".contains("1 ... 4096") }
  }
}
