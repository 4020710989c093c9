import Foundation
import ModelFool
import ModelFoolData

extension InputAttack {
  /// Scores the attack: explanations with ReLU (or softplus(`beta`) for the defence) of the
  /// adversarial inputs against the targets and the originals.
  public static func evaluate(
    _ model: Model, original x: Tensor, adversarial: Tensor, classes: [Int], labels: [Int],
    targetMaps: Tensor, targetIndices: [Int], method: ExplanationMethod, beta: Float? = nil
  ) throws -> [InputAttackExample] {
    let hAdv = try attackMap(model, adversarial, classes: classes, method: method, beta: beta, createGraph: false).map.detached()
    let hOrig = try attackMap(model, x, classes: classes, method: method, beta: beta, createGraph: false).map.detached()
    let pClean = withoutRecording { model(x).softmax(alongAxis: 1) }.scalars
    let logitsAdv = withoutRecording { model(adversarial) }
    let pAdv = logitsAdv.softmax(alongAxis: 1).scalars
    let advClasses = logitsAdv.argmaxLastAxis()
    let k = logitsAdv.shape[1]
    let spatial = hAdv.rank == 3 ? (hAdv.shape[1], hAdv.shape[2]) : nil
    let imageSize = x.rank == 4 && x.shape[1] == 1 ? (x.shape[2], x.shape[3]) : nil
    let pccT = FoolingStatistics.perExample(hAdv, targetMaps, SimilarityMetrics.pearson)
    let mseT = FoolingStatistics.perExample(hAdv, targetMaps, SimilarityMetrics.mse)
    let pccO = FoolingStatistics.perExample(hAdv, hOrig, SimilarityMetrics.pearson)
    let mseO = FoolingStatistics.perExample(hAdv, hOrig, SimilarityMetrics.mse)
    let mseX = FoolingStatistics.perExample(adversarial, x, SimilarityMetrics.mse)
    let linf = FoolingStatistics.perExample(adversarial, x) { a, b in zip(a, b).map { abs($0 - $1) }.max() ?? 0 }
    let l2 = FoolingStatistics.perExample(adversarial, x) { a, b in zip(a, b).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot() }
    func ssims(_ a: Tensor, _ b: Tensor, _ size: (Int, Int)?) -> [Float?] {
      guard let (h, w) = size else { return Array(repeating: nil, count: a.shape[0]) }
      return FoolingStatistics.perExample(a, b) { SimilarityMetrics.ssim($0, $1, height: h, width: w) }
    }
    let ssimT = ssims(hAdv, targetMaps, spatial), ssimO = ssims(hAdv, hOrig, spatial), ssimX = ssims(adversarial, x, imageSize)
    return (0..<x.shape[0]).map { i in
      InputAttackExample(
        index: i, targetIndex: targetIndices[i], label: labels[i], originalClass: classes[i],
        adversarialClass: advClasses[i], labelChanged: advClasses[i] != classes[i],
        probabilityChange: pAdv[i * k + classes[i]] - pClean[i * k + classes[i]],
        pccToTarget: pccT[i], ssimToTarget: ssimT[i], mseToTarget: mseT[i],
        pccToOriginal: pccO[i], ssimToOriginal: ssimO[i], mseToOriginal: mseO[i],
        inputSSIM: ssimX[i], inputMSE: mseX[i], perturbationLinf: linf[i], perturbationL2: l2[i])
    }
  }

  /// Means and extremes of the per-example results.
  public static func summarize(
    _ examples: [InputAttackExample], method: ExplanationMethod, seconds: Double, betaSweep: [String: Float]? = nil
  ) -> InputAttackSummary {
    let n = Float(max(examples.count, 1))
    let ssim = examples.compactMap(\.ssimToTarget)
    return InputAttackSummary(
      method: method.rawValue, count: examples.count,
      pccToTargetMean: examples.reduce(0) { $0 + $1.pccToTarget } / n,
      ssimToTargetMean: ssim.isEmpty ? nil : ssim.reduce(0, +) / Float(ssim.count),
      pccToOriginalMean: examples.reduce(0) { $0 + $1.pccToOriginal } / n,
      labelsChanged: examples.filter(\.labelChanged).count,
      maxProbabilityChange: examples.map { abs($0.probabilityChange) }.max() ?? 0,
      meanPerturbationLinf: examples.reduce(0) { $0 + $1.perturbationLinf } / n,
      meanPerturbationL2: examples.reduce(0) { $0 + $1.perturbationL2 } / n,
      seconds: seconds, betaSweep: betaSweep, examples: examples)
  }
}
