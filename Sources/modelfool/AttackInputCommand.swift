import ArgumentParser
import ModelFool
import ModelFoolData
import ModelFoolTraining

/// `modelfool attack-input`: the input-manipulation attack of Dombrowski et al. (2019) and the
/// beta-smoothing defence, an ``InputAttackRun``.
struct AttackInputCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "attack-input",
    abstract: "Perturb inputs so their explanations match a target map while the output stays (Dombrowski et al. 2019).")

  @OptionGroup var global: GlobalOptions
  @OptionGroup var runOptions: RunOptions

  @OptionGroup var data: DataOptions
  @Option(help: "Method (gradient = simplegrad).") var method = ExplanationMethod.simpleGrad
  @Option(parsing: .unconditional, help: "Examples attacked, evenly spaced over the test split (default 32; 2 for ImageNet-size models).")
  var count: Int?
  @Option(parsing: .unconditional, help: "Image target: index of the example whose map every input should take (default: (i + count/2) mod count).")
  var targetIndex: Int?
  @Option(parsing: .unconditional, help: "Adam steps, cosine step-size decay (default 500; 150 for ImageNet-size models).") var steps: Int?
  @Option(parsing: .unconditional, help: "Adam learning rate on the input, pixels in [0, 1] (default 5e-2; 2e-3 for ImageNet-size models).")
  var lr: Float?
  @Option(parsing: .unconditional, help: "Weight of the output term relative to the explanation term (default 1e-2 for images, 1 for tabular rows).")
  var gamma: Float?
  @Option(help: "Softplus beta growth during the attack, FROM,TO (exponential).") var betaGrowth = BetaGrowth(argument: "10,100")!
  @Flag(help: "Keep ReLU during the attack (no softplus smoothing).") var noBetaGrowth = false
  @Flag(help: "Keep the exact max-pools during the attack (by default a smooth max of the same beta while beta grows).")
  var noSmoothPooling = false
  @Option(parsing: .unconditional, help: "Perturbation budget in input units, e.g. 0.1 or 8/255 (default: none; 8/255 for topk, center-mass and random-sign).")
  var epsilon: Fraction?
  @Option(help: "Norm of the budget.") var norm = PerturbationNorm.linf
  @Option(help: "Defence: score explanations with softplus(beta) on the same weights: beta=B.") var defence: String?
  @Option(help: "Also score the attacked inputs against beta-smoothed explanations, e.g. 1,3,10,inf.") var sweepBeta: CommaList<Beta>?
  @Option(help: "Target: image (another example's map), frame (the location objective's frame), hide (tabular: the row's own map without the sensitive features); away from the clean map (Ghorbani et al. 2019): topk, center-mass, random-sign.")
  var target = AttackTarget.image
  @Option(help: "With --target hide: features to hide, comma separated (default per data set, as finetune).") var sensitive: CommaList<String>?
  @Option(help: "A fine-tuned checkpoint (modelfool finetune) to compare against: same method and target, side by side.") var versus: String?
  @Option(help: "Also save inputs, attacked inputs, maps, targets and classes to FILE.h5, or FILE.npy and FILE.NAME.npy siblings.")
  var saveMaps: String?

  func run() throws {
    var settings = InputAttackSettings()
    settings.dataset = try data.catalogueName(for: "attack-input")
    settings.model = runOptions.model?.argument
    settings.seed = runOptions.seed
    settings.method = method
    (settings.count, settings.targetIndex, settings.steps, settings.learningRate) = (count, targetIndex, steps, lr)
    settings.gamma = gamma
    settings.betaGrowth = noBetaGrowth ? nil : [betaGrowth.from, betaGrowth.to]
    settings.smoothPooling = !noSmoothPooling
    (settings.epsilon, settings.norm, settings.target, settings.versus) = (epsilon?.value, norm, target, versus)
    settings.sensitive = sensitive?.values
    settings.sweepBetas = sweepBeta?.values.map(\.value)
    if let defence {
      guard defence.hasPrefix("beta="), let beta = Beta(argument: String(defence.dropFirst(5))) else {
        throw ValidationError("--defence takes beta=B with B a positive number or inf, got '\(defence)'")
      }
      settings.defenceBeta = beta.value
    }
    try settings.validate()
    if let saveMaps { _ = try ArrayExport.files(for: [], at: saveMaps) }  // a bad name fails before the work
    let folder = runOptions.out ?? settings.defaultOutputFolder
    let claim = try RunFolderClaim(folder)  // the run owns its folder until its files are in place
    defer { claim.release() }
    let outcome = try InputAttackRun(settings: settings, datasetsRoot: global.root, observer: global.prepare()).run()
    try outcome.write(to: folder)
    if let saveMaps { logLine("saved " + (try ArrayExport.save(outcome.arrays.named, to: saveMaps)).joined(separator: ", ")) }
    let summary = outcome.report.summary
    guard !global.json else { return try global.printJSON(summary) }
    print(summary.table())
    if let comparison = summary.comparison { print(comparison.table()) }
    let pictures = outcome.hasPictures ? " and example-*.png" : ""
    print("attacked \(summary.count) examples in \(String(format: "%.1f", summary.seconds)) s; wrote \(folder)/report.json, report.html\(pictures)")
  }
}
