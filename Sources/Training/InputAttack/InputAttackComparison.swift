import Foundation
import ModelFool
import ModelFoolData

extension InputAttack {
  /// Input manipulation against model manipulation on the same model, method and target maps:
  /// PCC/SSIM of the explanations to the target, labels changed and accuracy on the examples, and
  /// the time. The input attack's row comes from `inputAttack` (the base model on `x_adv`); the
  /// model manipulation's row explains the clean examples with `fooled`.
  public static func compare(
    inputAttack: InputAttackSummary, base: Model, fooled: Model, fooledSeconds: Double?, data: Dataset,
    classes: [Int], targetMaps: Tensor, method: ExplanationMethod
  ) throws -> InputAttackComparison {
    fooled.setTraining(false)
    let maps = try attackMap(fooled, data.inputs, classes: classes, method: method, beta: nil, createGraph: false).map.detached()
    let pcc = FoolingStatistics.perExample(maps, targetMaps, SimilarityMetrics.pearson)
    var ssim: [Float] = []
    if maps.rank == 3 {
      let (h, w) = (maps.shape[1], maps.shape[2])
      ssim = FoolingStatistics.perExample(maps, targetMaps) { SimilarityMetrics.ssim($0, $1, height: h, width: w) }
    }
    let n = data.count
    let fooledClasses = withoutRecording { fooled(data.inputs) }.argmaxLastAxis()
    let accuracy = { (predicted: [Int]) in Float(zip(predicted, data.labels).filter { $0 == $1 }.count) / Float(max(n, 1)) }
    let inputRow = AttackComparisonRow(
      attack: "input manipulation", pccToTarget: inputAttack.pccToTargetMean, ssimToTarget: inputAttack.ssimToTargetMean,
      labelsChanged: inputAttack.labelsChanged, accuracyBefore: accuracy(inputAttack.examples.map(\.originalClass)),
      accuracyAfter: accuracy(inputAttack.examples.map(\.adversarialClass)), seconds: inputAttack.seconds,
      scope: "these \(n) inputs only")
    let modelRow = AttackComparisonRow(
      attack: "model manipulation", pccToTarget: pcc.reduce(0, +) / Float(max(pcc.count, 1)),
      ssimToTarget: ssim.isEmpty ? nil : ssim.reduce(0, +) / Float(ssim.count),
      labelsChanged: zip(fooledClasses, classes).filter { $0 != $1 }.count, accuracyBefore: accuracy(classes),
      accuracyAfter: accuracy(fooledClasses), seconds: fooledSeconds, scope: "every input (the weights changed)")
    return InputAttackComparison(method: method.rawValue, examples: n, rows: [inputRow, modelRow])
  }
}

/// One attack in the input-vs-model manipulation comparison.
public struct AttackComparisonRow: Codable, Sendable {
  /// `input manipulation` or `model manipulation`.
  public var attack: String
  /// Mean PCC / SSIM of the explanations (ReLU network) to the target maps.
  public var pccToTarget: Float
  public var ssimToTarget: Float?
  /// Examples whose predicted class differs from the base model's on the clean input.
  public var labelsChanged: Int
  /// Accuracy on the examples before and after the attack.
  public var accuracyBefore: Float
  public var accuracyAfter: Float
  /// Time of the attack (input: the optimisation of these inputs; model: the fine-tuning, from the
  /// checkpoint's metadata), nil when unknown.
  public var seconds: Double?
  /// What the time buys.
  public var scope: String

  /// A row with every field given.
  public init(
    attack: String, pccToTarget: Float, ssimToTarget: Float?, labelsChanged: Int, accuracyBefore: Float,
    accuracyAfter: Float, seconds: Double?, scope: String
  ) {
    self.attack = attack
    self.pccToTarget = pccToTarget
    self.ssimToTarget = ssimToTarget
    self.labelsChanged = labelsChanged
    self.accuracyBefore = accuracyBefore
    self.accuracyAfter = accuracyAfter
    self.seconds = seconds
    self.scope = scope
  }
}

/// Input manipulation against model manipulation on the same model, method and target maps
/// (`modelfool attack-input --versus FINETUNED`).
public struct InputAttackComparison: Codable, Sendable {
  public var method: String
  public var examples: Int
  public var rows: [AttackComparisonRow]

  /// A comparison of `rows` for `method` on `examples` examples.
  public init(method: String, examples: Int, rows: [AttackComparisonRow]) {
    self.method = method
    self.examples = examples
    self.rows = rows
  }

  /// The rows as text cells: attack, PCC, SSIM, labels changed, accuracy, time, scope.
  public var cells: [[String]] {
    rows.map { r in
      [
        r.attack, String(format: "%.3f", r.pccToTarget), r.ssimToTarget.map { String(format: "%.3f", $0) } ?? "-",
        "\(r.labelsChanged) of \(examples)", String(format: "%.3f -> %.3f", r.accuracyBefore, r.accuracyAfter),
        r.seconds.map { String(format: "%.1f s", $0) } ?? "-", r.scope,
      ]
    }
  }

  /// Column names of ``cells``.
  public static let header = ["attack", "PCC to target", "SSIM to target", "labels changed", "accuracy", "time", "time buys"]

  /// Terminal table.
  public func table() -> String {
    "same model, method \(method), same target maps, \(examples) examples:\n"
      + TextTable(header: Self.header, rows: cells, leftColumns: Self.header.count).render()
  }
}
