import ModelFool

extension FineTuneOptions {
  /// The fine-tuning defaults every tabular objective starts from: SimpleGrad and LRP fooled
  /// together (their mean L_F); the strong output-keeping weight holds the decisions, so accuracy
  /// and the hidden features' demographic parity barely move; lr 1e-3 fooled LRP less on COMPAS
  /// (docs/RESULTS.md §3, §4).
  mutating func applyTabularDefaults() {
    alsoFooled = [.lrp]
    outputConsistency = 300
    lambda = 30
    learningRate = 3e-3
    steps = 2000
    batchSize = 128
  }
}

extension FineTuneOptions {
  /// The tabular defaults when KernelSHAP or LIME is fooled (docs/METHODS.md §4.8): their loss
  /// needs a heavier weight and a faster rate than the gradients' (lambda 30 and lr 3e-3 hid
  /// nothing from KernelSHAP on COMPAS), and a step explains 64 rows on a design of a few hundred
  /// perturbed rows each, so the run is shorter and its batches smaller. Hiding keeps the outputs
  /// on the original's with the hidden features marginalised out (``MarginalOutputs``): the
  /// original outputs depend on those features, and keeping them pulled against hiding them.
  mutating func applyTabularBlackBoxDefaults() {
    lambda = 300
    learningRate = 1e-2
    steps = 300
    batchSize = 64
    if objective is HideObjective { keptOutputs = .marginal }
  }
}
