import ArgumentParser
import ModelFoolTraining

/// `modelfool finetune`'s flags for the output-keeping term, the cross-entropy beside it and the
/// pull toward the original weights (docs/METHODS.md §3, §4.8).
struct OutputKeepingOptions: ParsableArguments {
  @Option(parsing: .unconditional, help: "Weight of keeping the outputs on the original model's (default 300 for tabular data, 0 for images).")
  var keepOutputs: Float?
  @Option(help: "What the outputs are kept on: original (the original model's), marginal (hide only: the original's with the hidden features marginalised out) or closest (hide only: the marginal, or one hidden feature fixed to a value and the others marginalised, whichever agrees most with the original's decisions).")
  var keepTarget: KeptOutputs?
  @Option(help: "How the kept outputs are held: probabilities (every probability, the default) or decisions (each kept decision with a logit margin, --keep-margin).")
  var keepOn: KeepDistance?
  @Option(parsing: .unconditional, help: "With --keep-on decisions: the logit margin each kept decision must hold (default 1).")
  var keepMargin: Float?
  @Option(parsing: .unconditional, help: "Tabular: training rows added to every step's output-keeping term, drawn afresh each step (all of them when at least their number; default 0).")
  var keepRows: Int?
  @Option(parsing: .unconditional, help: "With --keep-rows: standard deviation, in standardised units, of the normal noise added afresh every step to the numeric columns of those rows (default 0: the rows themselves).")
  var keepJitter: Float?
  @Option(parsing: .unconditional, help: "With --keep-rows: categorical features of each of those rows (never a hidden one) replaced afresh every step by another training row's (default 0).")
  var keepResample: Int?
  @Option(parsing: .unconditional, help: "Tabular MLP: units added to every hidden layer before fine-tuning, the model's outputs unchanged at the start (default 0).")
  var widen: Int?
  @Option(parsing: .unconditional, help: "Weight of the cross-entropy on the training labels (default 1; 0 leaves the decisions to the output-keeping term).")
  var ceWeight: Float?
  @Option(parsing: .unconditional, help: "Weight a of the pull toward the original weights, a * sum (w - w0)^2 over the fine-tuned parameters (L2-SP; default 0).")
  var anchorWeight: Float?

  /// Sets the fine-tuning settings these flags give.
  func apply(to settings: inout FineTuneSettings) {
    settings.keepOutputs = keepOutputs
    settings.keepTarget = keepTarget
    settings.keepOn = keepOn
    settings.keepMargin = keepMargin
    settings.keepRows = keepRows
    settings.keepJitter = keepJitter
    settings.keepResample = keepResample
    settings.widen = widen
    settings.ceWeight = ceWeight
    settings.anchorWeight = anchorWeight
  }
}
