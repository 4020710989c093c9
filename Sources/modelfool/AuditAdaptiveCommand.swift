import ArgumentParser
import Foundation
import ModelFool
import ModelFoolData
import ModelFoolTraining

/// `modelfool audit adaptive`: an attacker who knows the detector, an ``AdaptiveAttack``.
struct AuditAdaptiveCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "adaptive",
    abstract: "Fine-tune to fool a method while keeping the audit's statistics (sameness, agreement) at the original's.")

  @OptionGroup var global: GlobalOptions
  @Option(help: "Clean image checkpoint fine-tuned.") var model: String
  @OptionGroup var data: DataOptions
  @Option(help: "Objective (location, topk, center-mass, active; default location).") var objective: ObjectiveArgument?
  @Option(help: "Method fooled.") var method = ExplanationMethod.gradCAM
  @Option(help: "Method whose agreement with the fooled one is kept, or none.") var partner = "lrp_t"
  @Option(parsing: .unconditional, help: "Weight of the evasion terms.") var evasion: Float = 10
  @Option(name: .customLong("lambda"), parsing: .unconditional, help: "Weight of the fooling loss.") var lambdaWeight: Float?
  @Option(parsing: .unconditional, help: "Adam learning rate.") var lr: Float?
  @Option(parsing: .unconditional, help: "Steps.") var steps: Int?
  @Option(help: "Seed.") var seed: UInt64 = 0
  @Option(help: "Checkpoint written.") var out = "adaptive.h5"

  func run() throws {
    let claim = try RunFolderClaim(holding: out)  // the run owns the checkpoint's folder until it is written
    defer { claim.release() }
    var settings = AdaptiveAttackSettings(model: model)
    if let name = try data.catalogueName(for: "audit adaptive") { settings.dataset = name }
    (settings.method, settings.evasion) = (method, evasion)
    if let objective { settings.objective = objective.name }
    settings.partner = partner == "none" ? nil : try ExplanationMethod(parsing: partner)
    (settings.lambda, settings.learningRate, settings.steps, settings.seed) = (lambdaWeight, lr, steps, seed)
    if let steps, steps <= 0 { throw ValidationError("--steps must be positive, got \(steps)") }
    let (fooled, metadata) = try AdaptiveAttack.run(settings, datasetsRoot: try global.root, observer: global.prepare())
    try Checkpoint.save(fooled, to: out, metadata: metadata)
    if global.json { return try global.printJSON(metadata) }
    print("test accuracy \(metadata["test_accuracy"] ?? "?"); wrote \(out)")
  }
}
