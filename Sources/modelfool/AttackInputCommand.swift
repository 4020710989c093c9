import ArgumentParser
import Foundation
import ModelFool
import ModelFoolData
import ModelFoolTraining

/// `modelfool attack-input`: the input-manipulation attack of Dombrowski et al. (2019) and the
/// beta-smoothing defence.
struct AttackInputCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "attack-input",
    abstract: "Perturb inputs so their explanations match a target map while the output stays (Dombrowski et al. 2019).")

  @Option(help: "Checkpoint (default runs/base/DATASET.h5, trained first if missing).")
  var model: String?

  @Option(help: "Data set whose test split supplies inputs and targets.")
  var dataset = "digits"

  @Option(help: "Folder with the data sets.")
  var datasetsRoot = DatasetCatalog.defaultRoot

  @Option(help: "Method: gradient, gradxinput, ig, lrp, gradcam (or any explain method name).")
  var method = "gradient"

  @Option(help: "Examples attacked, evenly spaced over the test split (default 32; 2 for ImageNet-size models).")
  var count: Int?

  @Option(help: "Target: index into the same examples whose explanation every input should take (default: example (i + count/2) mod count for input i).")
  var targetIndex: Int?

  @Option(help: "Adam steps, cosine step-size decay (default 500; 150 for ImageNet-size models).")
  var steps: Int?

  @Option(help: "Adam learning rate on the input, pixels in [0, 1] (default 5e-2; 2e-3 for ImageNet-size models).")
  var lr: Float?

  @Option(help: "Weight of the output term relative to the explanation term (reference code 1e-5). Default 1e-2 for images (keeps the digits' class probabilities within 0.05), 1 for tabular rows (1e-2 changed 7 of 32 COMPAS decisions).")
  var gamma: Float?

  @Option(help: "Softplus beta growth during the attack, FROM,TO (exponential).")
  var betaGrowth = "10,100"

  @Flag(help: "Keep ReLU during the attack (no softplus smoothing).")
  var noBetaGrowth = false

  @Flag(help: "Keep the exact max-pools during the attack (by default they become a smooth max of the same beta while beta grows).")
  var noSmoothPooling = false

  @Option(help: "Perturbation budget (in input units, e.g. 0.1); none by default.")
  var epsilon: Float?

  @Option(help: "Norm of the budget: linf or l2.")
  var norm = "linf"

  @Option(help: "Defence: evaluate explanations with softplus(beta) on the same weights, e.g. beta=3.")
  var defence: String?

  @Option(help: "Report how far the attack gets against beta-smoothed explanations, e.g. 1,3,10,inf.")
  var sweepBeta: String?

  @Option(help: "Target map: 'image' (another example's explanation, default), 'frame' (the location objective's frame, as the model-manipulation attack uses) or 'hide' (tabular: the row's own explanation without the --sensitive features).")
  var target = "image"

  @Option(help: "With --target hide: features to hide, comma separated (default per data set, as finetune).")
  var sensitive: String?

  @Option(help: "A fine-tuned checkpoint (modelfool finetune) to compare against: same method and target, side by side.")
  var versus: String?

  @Option(help: "Seed (base model training if needed).")
  var seed: UInt64 = 0

  @Option(help: "Output folder (default runs/attack-input/DATASET-METHOD).")
  var out: String?

  @Flag(help: "Print one JSON summary object on stdout.")
  var json = false

  func run() throws {
    let split = try DatasetCatalog.load(dataset, root: datasetsRoot)
    // The hide target runs on the same biased base model as `finetune --objective hide`.
    let (network, basePath) = try FineTuneSetup.loadOrTrainBase(
      path: model, dataset: dataset, split: split, seed: seed, datasetsRoot: datasetsRoot, objective: target)
    network.setTraining(false)
    let method = self.method == "gradient" ? ExplanationMethod.simpleGrad : try ExplanationMethod(parsing: self.method)
    // ImageNet-size inputs (the pretrained EfficientNet-Lite0: ~1.1 s a step for two 224x224
    // photos on 2 cores) get a short run on two photos; lr 2e-3 keeps the change nearly invisible
    // (mean L-inf 0.07; lr 1e-2: 0.24 for PCC 0.63 instead of 0.60).
    let large = FineTuneSetup.isLargeImage(network)
    let count = self.count ?? (large ? 2 : 32), steps = self.steps ?? (large ? 150 : 500)
    let lr = self.lr ?? (large ? 2e-3 : 5e-2)
    guard count >= (target == "image" ? 2 : 1) else {
      throw ValidationError(target == "image"
        ? "--count must be at least 2 with --target image (targets come from the other examples)"
        : "--count must be at least 1")
    }
    let data = split.test.evenlySpacedSubset(count)
    let n = data.count
    if let targetIndex, !(0..<n).contains(targetIndex) {
      throw ValidationError("--target-index \(targetIndex) is out of range 0..<\(n)")
    }
    var options = InputAttackOptions()
    options.method = method
    options.steps = steps
    options.learningRate = lr
    let tabular = network.inputShape.count == 1
    let gamma = self.gamma ?? (tabular ? 1 : 1e-2)
    options.outputWeight = gamma * options.explanationWeight
    options.betaGrowth = noBetaGrowth ? nil : try parseBetaPair(betaGrowth)
    options.smoothPooling = !noSmoothPooling
    options.epsilon = epsilon
    options.norm = norm
    options.inputRange = tabular ? nil : (0, 1)
    let spans = tabular ? try FeatureSpan.features(of: network) : []
    if tabular, !spans.isEmpty {
      options.columns = InputAttack.tabularConstraints(features: spans, reference: split.train.inputs)
    }
    let defenceBeta = try defence.flatMap(parseDefence)

    let x = data.inputs
    let classes = withoutRecording { network(x) }.argmaxLastAxis()
    let targets = (0..<n).map { targetIndex ?? ($0 + n / 2) % n }
    let allMaps = try InputAttack.attackMap(network, x, classes: classes, method: method, beta: defenceBeta, createGraph: false).map.detached()
    let targetMaps: Tensor
    var hidden: [Int] = []
    switch target {
    case "image": targetMaps = allMaps.selectingRows(targets)
    case "frame":
      guard allMaps.rank == 3 else { throw ValidationError("--target frame needs spatial maps; \(method) gives \(allMaps.shape)") }
      targetMaps = InputAttack.frameTarget(like: allMaps)
    case "hide":
      guard tabular, !spans.isEmpty else { throw ValidationError("--target hide needs a tabular model with named features") }
      hidden = try FineTuneSetup.hiddenGroups(sensitive.map(parseNames), dataset: dataset, features: spans)
      targetMaps = InputAttack.hideTarget(allMaps, columns: hidden.flatMap { Array(spans[$0].columns) })
    default: throw ValidationError("--target must be 'image', 'frame' or 'hide', got '\(target)'")
    }
    // Load the --versus checkpoint first so that a bad path fails before the attack runs.
    let fooled = try versus.map { path in (model: try Checkpoint.load(path), metadata: (try? Checkpoint.metadata(path)) ?? [:]) }
    let start = Date()
    let (adversarial, _) = try InputAttack.run(network, x, targetMaps: targetMaps, options: options)
    let seconds = Date().timeIntervalSince(start)
    let examples = try InputAttack.evaluate(
      network, original: x, adversarial: adversarial, classes: classes, labels: data.labels,
      targetMaps: targetMaps, targetIndices: targets, method: method, beta: defenceBeta)
    var sweep: [String: Float]?
    if let sweepBeta {
      sweep = [:]
      for text in parseNames(sweepBeta) {
        let beta = try parseBeta(text)
        // An image target is re-explained with the same beta; the frame stays the frame.
        let smoothedTargets = target == "frame" ? targetMaps
          : try InputAttack.attackMap(network, x, classes: classes, method: method, beta: beta, createGraph: false).map.detached().selectingRows(targets)
        let scored = try InputAttack.evaluate(
          network, original: x, adversarial: adversarial, classes: classes, labels: data.labels,
          targetMaps: smoothedTargets, targetIndices: targets, method: method, beta: beta)
        sweep?[text] = scored.reduce(0) { $0 + $1.pccToTarget } / Float(scored.count)
      }
    }
    var summary = InputAttack.summarize(examples, method: method, seconds: seconds, betaSweep: sweep)
    if !hidden.isEmpty {
      summary.hiding = try InputAttack.hidingScore(
        network, original: x, adversarial: adversarial, classes: classes, method: method, features: spans, hidden: hidden)
    }
    if let fooled {
      summary.comparison = try InputAttack.compare(
        inputAttack: summary, base: network, fooled: fooled.model, fooledSeconds: Double(fooled.metadata["seconds"] ?? ""),
        data: data, classes: classes, targetMaps: targetMaps, method: method)
    }
    let folder = out ?? "runs/attack-input/\(dataset)-\(method.rawValue)"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    try AtomicFile.write(to: folder + "/report.json") { try Data(jsonLine(summary).utf8).write(to: URL(fileURLWithPath: $0)) }
    if x.rank == 4 {
      let advMaps = try InputAttack.attackMap(network, adversarial, classes: classes, method: method, beta: defenceBeta, createGraph: false).map.detached()
      try InputAttackPictures.write(
        folder: folder, original: x, adversarial: adversarial, originalMaps: allMaps, adversarialMaps: advMaps, targetMaps: targetMaps)
    }
    let settings = [
      "model": basePath, "dataset": dataset, "method": method.rawValue, "count": "\(n)",
      "steps": "\(steps)", "lr": "\(lr) (Adam, cosine decay)", "gamma": "\(gamma)",
      "beta growth": noBetaGrowth || method == .lrp || method == .lrpTarget ? "none (ReLU)" : betaGrowth,
      "smooth max-pool during the attack": noSmoothPooling || noBetaGrowth || method == .lrp || method == .lrpTarget ? "no" : "yes (same beta)",
      "budget": epsilon.map { "\($0) (\(norm))" } ?? "none", "defence": defence ?? "none",
      "target": target == "frame" ? "frame (location objective)"
        : target == "hide" ? "own explanation without \(hidden.map { spans[$0].name }.joined(separator: ", "))"
        : targetIndex.map { "example \($0)" } ?? "example (i + count/2) mod count",
      "versus": versus ?? "-",
    ]
    let targetLabels = targets.indices.map { i in
      target == "frame" ? "frame" : target == "hide" ? "itself, hidden features removed" : "example \(targets[i]) (label \(data.labels[targets[i]]))"
    }
    try InputAttackReportPage.write(folder: folder, summary: summary, settings: settings, targetLabels: targetLabels, pictures: x.rank == 4)
    if json {
      print(try jsonLine(summary))
    } else {
      print(summary.table())
      if let comparison = summary.comparison { print(comparison.table()) }
      print("attacked \(n) examples in \(String(format: "%.1f", seconds)) s; wrote \(folder)/report.json, report.html\(x.rank == 4 ? " and example-*.png" : "")")
    }
  }

  func parseBeta(_ text: String) throws -> Float? {
    if text == "inf" || text == "relu" { return nil }
    guard let v = Float(text), v > 0 else { throw ValidationError("beta '\(text)' must be a positive number or inf") }
    return v
  }

  func parseDefence(_ text: String) throws -> Float? {
    guard text.hasPrefix("beta=") else { throw ValidationError("--defence takes beta=B, got '\(text)'") }
    return try parseBeta(String(text.dropFirst(5)))
  }

  func parseBetaPair(_ text: String) throws -> (Float, Float) {
    let parts = text.split(separator: ",").compactMap { Float($0) }
    guard parts.count == 2, parts[0] > 0, parts[1] > 0 else { throw ValidationError("--beta-growth takes FROM,TO, got '\(text)'") }
    return (parts[0], parts[1])
  }
}
