import Foundation
import ModelFool
import ModelFoolData

/// The explainers whose perturbations the out-of-distribution detector learns to recognise.
public enum PerturbationSource: String, Codable, Sendable, CaseIterable {
  /// LIME's tabular sampling (``LIMEStatistics/sample(_:columns:seed:)``).
  case lime
  /// KernelSHAP's coalition masking against a background: `z x + (1 - z) b`.
  case kernelshap
  /// Half of each.
  case both
}

/// The detector of Slack et al. §3: a classifier of real rows (class 0) against the explainer's
/// own perturbations of real rows (class 1), here a ReLU `mlp` trained with ``Trainer``.
///
/// LIME's perturbations are drawn exactly as ``LIME`` draws them: each feature independently
/// from the reference rows' quartile bins (numeric) or category frequencies (one-hot).
/// KernelSHAP's are `x_z = z x + (1 - z) b` for a real row `x`, a row `b` of the explainer's
/// background and a coalition `z` drawn uniformly from the ``KernelSHAPDesign``'s coalitions
/// other than the empty and the full one.
public enum OODClassifier {
  /// `count` perturbations of the rows `real` `[R, D]` with feature groups `players`, drawn with
  /// `SeededGenerator(seed:)`; KernelSHAP's against the rows `background` `[B, D]`.
  public static func perturbations(
    of real: Tensor, players: [FeatureSpan], source: PerturbationSource, background: Tensor, count: Int, seed: UInt64
  ) throws -> Tensor {
    let d = real.shape[1]
    switch source {
    case .lime:
      return try LIMEStatistics(reference: real, players: players).sample(count, columns: d, seed: seed)
    case .both:
      let half = count / 2
      return Tensor.concatenate([
        try perturbations(of: real, players: players, source: .lime, background: background, count: half, seed: seed),
        try perturbations(of: real, players: players, source: .kernelshap, background: background, count: count - half, seed: seed &+ 1),
      ], alongAxis: 0)
    case .kernelshap:
      let m = players.count, r = real.shape[0], nb = background.shape[0]
      guard background.rank == 2, background.shape[1] == d, nb > 0 else {
        throw TrainingError("kernelshap background of shape \(background.shape) for rows of \(d) columns")
      }
      let design = try KernelSHAPDesign(players: m, seed: seed)
      guard design.count > 2 else { throw TrainingError("kernelshap: \(m) player(s) give no partial coalitions") }
      var generator = SeededGenerator(seed: seed &+ 0x5EED)
      let (x, bg) = (real.scalars, background.scalars)
      var out = [Float](repeating: 0, count: count * d)
      for s in 0..<count {
        let a = Int(generator.next() % UInt64(r)), b = Int(generator.next() % UInt64(nb))
        let z = 2 + Int(generator.next() % UInt64(design.count - 2))
        for (g, f) in players.enumerated() {
          let present = design.coalitions[z * m + g] == 1
          for c in f.columns { out[s * d + c] = present ? x[a * d + c] : bg[b * d + c] }
        }
      }
      return Tensor(shape: [count, d], scalars: out)
    }
  }

  /// A labelled set of the rows `real` (class 0), each repeated `repeats` times, and as many
  /// perturbations (class 1).
  public static func dataset(
    real: Dataset, source: PerturbationSource, background: Tensor, repeats: Int, seed: UInt64
  ) throws -> Dataset {
    let n = real.count * repeats
    let fake = try perturbations(of: real.inputs, players: real.features, source: source, background: background, count: n, seed: seed)
    let copies = Tensor.concatenate([Tensor](repeating: real.inputs, count: repeats) + [fake], alongAxis: 0)
    return Dataset(name: real.name + "-ood", inputs: copies, labels: [Int](repeating: 0, count: n) + [Int](repeating: 1, count: n),
                   classNames: ["real", "perturbed"], features: real.features)
  }

  /// Trains the detector: an `mlp` with `hidden` layers on
  /// ``dataset(real:source:background:repeats:seed:)`` of `train`.
  public static func train(
    on train: Dataset, source: PerturbationSource, background: Tensor, repeats: Int, hidden: [Int],
    training: TrainingOptions, seed: UInt64, observer: RunObserver = .silent
  ) throws -> Model {
    let data = try dataset(real: train, source: source, background: background, repeats: repeats, seed: seed)
    let model = try ModelZoo.build(architecture: "mlp", options: [
      "inputs": "\(data.exampleShape[0])", "hidden": hidden.map(String.init).joined(separator: ","), "classes": "2",
      "seed": "\(seed)",
    ])
    model.classNames = data.classNames
    try Trainer.fit(model, train: data, test: nil, options: training, observer: observer)
    return model
  }

  /// Accuracy of `detector` on the rows `real` (class 0) and `count` fresh perturbations of them
  /// (class 1) from `source`, with the rate of real rows taken for real and of perturbations taken
  /// for perturbations.
  public static func score(
    _ network: ScaffoldNetwork, real: Dataset, source: PerturbationSource, background: Tensor, count: Int, seed: UInt64
  ) throws -> DetectorScore {
    let fake = try perturbations(of: real.inputs, players: real.features, source: source, background: background, count: count, seed: seed)
    let realIn = network.inDistribution(real.inputs).filter { $0 }.count
    let fakeOut = network.inDistribution(fake).filter { !$0 }.count
    return DetectorScore(
      source: source, realKept: Double(realIn) / Double(real.count), perturbedCaught: Double(fakeOut) / Double(count),
      accuracy: Double(realIn + fakeOut) / Double(real.count + count))
  }
}

/// How well the detector separates real rows from one explainer's perturbations.
public struct DetectorScore: Codable, Sendable {
  /// Whose perturbations.
  public var source: PerturbationSource
  /// Fraction of real rows taken for real.
  public var realKept: Double
  /// Fraction of perturbations taken for perturbations.
  public var perturbedCaught: Double
  /// Accuracy over both (real rows and perturbations, each row counted once).
  public var accuracy: Double
}
