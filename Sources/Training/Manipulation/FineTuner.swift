import Foundation
import ModelFool
import ModelFoolData

/// Settings of the model-manipulation attack (Heo et al. 2019): fine-tune the weights with
/// `CE + lambda * L_F` on the same minibatch, Adam without weight decay, BatchNorm frozen.
public struct FineTuneOptions: Sendable {
  public var objective: any FoolingObjective = LocationObjective()
  /// The method fooled (it names the run).
  public var method: ExplanationMethod = .gradCAM
  /// Further methods fooled at the same time, as Dimanov et al. (2020) conceal a feature from
  /// several explanation methods at once: `L_F` is then the mean of the objective's loss over
  /// `method` and these. Empty: `method` alone.
  public var alsoFooled: [ExplanationMethod] = []
  /// `method` followed by ``alsoFooled``, each method once.
  public var fooledMethods: [ExplanationMethod] {
    ([method] + alsoFooled).reduce(into: []) { unique, m in if !unique.contains(m) { unique.append(m) } }
  }
  /// Target layer (nil: the model's default).
  public var layer: String?
  public var lambda: Float = 1
  /// Weight of `sum_c (softmax(f_w(x)) - softmax(f_w0(x)))^2` (mean over the batch): keeps the
  /// fine-tuned model's decisions on the original's, so that the attack hides a bias from the
  /// explanations without changing it (Dimanov et al. 2020 keep the outputs likewise). 0: off.
  public var outputConsistency: Float = 0
  /// What the output-keeping term holds the outputs on: the original model's (the default), or,
  /// for the hide objective, the original's with the hidden features marginalised out
  /// (``MarginalOutputs``, docs/METHODS.md §4.8).
  public var keptOutputs = KeptOutputs.original
  /// How the output-keeping term measures the distance to the kept outputs (``KeepDistance``).
  public var keepDistance = KeepDistance.probabilities
  /// With ``KeepDistance/decisions``: the logit margin each kept decision must hold (1).
  public var keptMargin: Float = 1
  /// Rows of the model's reference rows (``Model/explanationReference``, the training split of a
  /// tabular model) added to the batch in the output-keeping term, drawn afresh every step (with
  /// replacement; all of them when this is at least their number). 0: the batch alone. Holding
  /// the outputs on many real rows leaves the fine-tuning free only off them, where the
  /// explainers' perturbed rows lie (docs/METHODS.md §4.8).
  public var keptRows = 0
  /// With ``keptRows``: the standard deviation, in standardised units, of the normal noise added
  /// afresh every step to the numeric columns of the further kept rows (``KeptNeighbourhood``).
  /// 0: the training rows themselves. The keep term then holds the outputs on neighbourhoods of
  /// the training rows, which held-out rows with continuous columns are near but never on.
  public var keptJitter: Float = 0
  /// With ``keptRows``: categorical features (one-hot groups, never the hidden ones of the hide
  /// objective) of each further kept row replaced every step by those of another training row,
  /// drawn afresh (``KeptNeighbourhood``). 0: none.
  public var keptResampled = 0
  /// Weight of the cross-entropy on the training labels (1, Heo et al.'s loss). On a model trained
  /// on biased labels the recorded labels pull its decisions away from the biased ones that the
  /// output-keeping term holds; 0 leaves the decisions to that term alone.
  public var crossEntropyWeight: Float = 1
  /// Weight `a` of the pull toward the starting weights, `a * sum (w - w0)^2` over the trainable
  /// parameters (``WeightAnchor``, L2-SP). 0: off.
  public var anchorWeight: Float = 0
  public var learningRate: Float = 1e-4
  /// Learning-rate schedule over the steps (nil: cosine down to 5% of the rate, which lets the
  /// cross-entropy recover the accuracy once the fooling loss is low).
  public var schedule: LearningRateSchedule?
  public var steps = 300
  /// Top-k with Grad-CAM: weight of ``FoolingLoss/peakKeeping(_:original:)`` of the maps' peaks
  /// inside `L_F`; 0 gives Heo et al.'s loss alone.
  public var topKPeakWeight: Float = 10
  /// Top-k with LRP_T: weight of ``FoolingLoss/peakKeeping(_:original:)`` applied to the maps'
  /// positive share (``Heatmap/positiveShare(_:)``) instead of their peak; 0 gives Heo et al.'s
  /// loss alone. The paper's loss leaves fooled LRP_T maps blank; heavier weights fool fewer maps,
  /// and keeping the peak instead costs accuracy (docs/METHODS.md §4.2, docs/RESULTS.md §1.3).
  public var topKPositiveShareWeight: Float = 3
  /// Center-mass only: the shift (`|dC_h| + |dC_w|`, fraction of `W - 1`) past which an image
  /// earns no more fooling loss (see ``FoolingLoss/centerMass(_:reference:cap:)``); nil: none.
  public var centerMassCap: Float? = 0.3
  public var batchSize = 32
  public var seed: UInt64 = 0
  /// Held-out examples scored during training (accuracy and L_F) every `evaluateEvery` steps.
  public var monitorCount = 256
  public var evaluateEvery = 50
  /// A further term of every step's loss (its weight included), differentiable with respect to
  /// the weights of `model`; `original` is the frozen reference. The adaptive attacker's evasion
  /// terms (``AdaptiveAttack``) are one. Nil: none.
  public var extraLoss: (@Sendable (_ model: Model, _ original: Model, _ x: Tensor, _ labels: [Int]) throws -> Tensor)?
  public init() {}
}

/// One point of the training curves.
public struct FineTuneRecord: Codable, Sendable {
  public var step: Int
  public var crossEntropy: Float
  public var foolingLoss: Float
  public var heldOutAccuracy: Float?
  public var heldOutFoolingLoss: Float?
}

/// Where a resumable fine-tuning stands after a step: with the weights and Adam's moments
/// (``FineTuneState``), what continues it bit-identically.
public struct FineTuneProgress: Codable, Sendable {
  /// Steps done.
  public var step = 0
  /// Epoch orders drawn from `SeededGenerator(seed:)`: the generator's state (a resumed run
  /// replays the draws).
  public var epochs = 0
  /// Batches of the current epoch's order consumed.
  public var batchInEpoch = 0
  /// Files of the streamed training set that could not be read, so far.
  public var skippedFiles = 0
  /// The training curves so far.
  public var records: [FineTuneRecord] = []
  public init() {}

  /// The largest batch position and skipped-file count accepted from a file (2^40, far above any
  /// data set): the run adds to both, which must not overflow.
  public static let maxCount = 1 << 40

  /// Throws unless this progress can belong to a run of `steps` steps (a resumed run's state is
  /// read from a file): `0 <= step <= steps`, `0 <= epochs <= step + 1` (every epoch after the
  /// first is drawn for a step), `batchInEpoch` and `skippedFiles` in `0 ... maxCount`, at most `step`
  /// curve points, each at a step in `1 ... step`. `source` names the file in the error.
  public func check(steps: Int, source: String) throws {
    func bad(_ field: String, _ value: Int, _ expected: String) -> DataError {
      InputFile.fieldError(source, "fine-tuning progress '\(field)'", value, expected: expected, settings: ["resume"])
    }
    guard step >= 0, step <= steps else { throw bad("step", step, "0 ... \(steps), the run's steps") }
    guard epochs >= 0, epochs <= step + 1 else { throw bad("epochs", epochs, "0 ... step + 1 = \(step + 1)") }
    guard batchInEpoch >= 0, batchInEpoch <= Self.maxCount else { throw bad("batch_in_epoch", batchInEpoch, "0 ... \(Self.maxCount)") }
    guard skippedFiles >= 0, skippedFiles <= Self.maxCount else { throw bad("skipped_files", skippedFiles, "0 ... \(Self.maxCount)") }
    guard records.count <= step else { throw bad("records", records.count, "at most step = \(step) curve points") }
    if let r = records.first(where: { $0.step < 1 || $0.step > step }) { throw bad("records.step", r.step, "1 ... \(step)") }
  }
}

/// A resumable fine-tuning's state besides the weights: its progress and Adam's moments (per
/// trainable parameter, in `trainableParameters()` order).
public struct FineTuneState: Sendable {
  public var progress: FineTuneProgress
  public var moments: [(m: [Float], v: [Float], step: Int)?]
  public init(progress: FineTuneProgress, moments: [(m: [Float], v: [Float], step: Int)?]) {
    self.progress = progress
    self.moments = moments
  }

  /// Throws unless the moments fit `parameters` (one entry each, `m` and `v` of the parameter's
  /// size) and each Adam step count lies in `1 ... progress.step`.
  public func checkMoments(parameters: [Parameter], source: String) throws {
    guard moments.count == parameters.count else {
      throw InputFile.fieldError(source, "the number of Adam moments", moments.count, expected: "\(parameters.count), one per trainable parameter", settings: ["resume"])
    }
    for (i, (saved, p)) in zip(moments, parameters).enumerated() {
      guard let saved else { continue }
      guard saved.m.count == p.count, saved.v.count == p.count else {
        throw InputFile.fieldError(source, "Adam moments \(i)", "of \(saved.m.count) and \(saved.v.count) values", expected: "\(p.count), the parameter's size", settings: ["resume"])
      }
      guard saved.step >= 1, saved.step <= progress.step else {
        throw InputFile.fieldError(source, "Adam step count \(i)", saved.step, expected: "1 ... \(progress.step), the steps done", settings: ["resume"])
      }
    }
  }
}

/// How a caller checkpoints and stops a fine-tuning: `save` is called every `checkpointEvery`
/// steps and, when `shouldStop` turns true (a signal), once more before the run stops.
public struct FineTuneControl: Sendable {
  public var checkpointEvery: Int?
  public var shouldStop: @Sendable () -> Bool
  public var save: @Sendable (FineTuneState) throws -> Void
  public init(checkpointEvery: Int?, shouldStop: @escaping @Sendable () -> Bool, save: @escaping @Sendable (FineTuneState) throws -> Void) {
    self.checkpointEvery = checkpointEvery
    self.shouldStop = shouldStop
    self.save = save
  }
}

/// A run stopped on request after `step` of `steps`, its state saved.
public struct RunInterrupted: SettingsError, Sendable {
  public var step: Int
  public var steps: Int
  public var description: String
  public var settings: [String] = []
  public init(step: Int, steps: Int, description: String? = nil) {
    self.step = step
    self.steps = steps
    self.description = description ?? "interrupted after step \(step) of \(steps)"
  }
}

/// Counts (and tells the observer about) the files a streamed source skipped.
final class SkipCounter: @unchecked Sendable {
  private let lock = NSLock()
  private var count = 0
  private let observer: RunObserver
  init(observer: RunObserver) { self.observer = observer }
  /// Called by the stream for each file left out.
  var record: @Sendable (String) -> Void {
    { [self] line in
      lock.lock()
      count += 1
      lock.unlock()
      observer.message("skipped unreadable file: \(line)")
    }
  }
  /// The files counted since the last call.
  func take() -> Int {
    lock.lock()
    defer { count = 0; lock.unlock() }
    return count
  }
}

/// The fine-tuning loop of the model-manipulation attack.
public enum FineTuner {
  /// Heatmaps (image objectives, `[N, h, w]`) or per-feature relevance (tabular, `[N, groups]`)
  /// of `model` for `labels`, as the fooling losses expect them.
  /// `forward`: a recorded forward pass of `model` on `x` to share (``recordedForward(_:_:options:)``).
  /// `designSeed`: with `createGraph` (or `smallDesign`), the seed of a black-box method's
  /// training design (``designSeed(step:runSeed:)``; never 0, the scoring design's seed).
  /// `smallDesign`: whether a black-box method uses the fine-tuning design
  /// (``BlackBoxOptions/fineTuning``) rather than the scoring one; nil: when `createGraph`.
  public static func maps(
    _ model: Model, _ x: Tensor, labels: [Int], method: ExplanationMethod, layer: String?,
    tabular: Bool, createGraph: Bool, sharing forward: RecordedForward? = nil, designSeed: UInt64 = 1,
    smallDesign: Bool? = nil
  ) throws -> Tensor {
    var options = ExplanationOptions()
    options.layer = layer
    options.createGraph = createGraph
    if method.isBlackBox && (smallDesign ?? createGraph) {
      // Training differentiates a smaller design of its own seed; scores use the default one.
      options.blackBox = .fineTuning
      options.seed = designSeed == 0 ? 1 : designSeed
    }
    let e = try explanation(model, x, labels: labels, method: method, options: options, sharing: forward)
    let h = options.postProcess ? e.heatmap : e.raw
    guard tabular else { return h }
    return Heatmap.sumPerFeature(h, features: try FeatureSpan.features(of: model), inputs: x)
  }

  /// The fooling loss `L_F` of `model` on a batch; `original` is the frozen reference model,
  /// evaluated only where the objective reads the original's maps (``FrozenOriginal``).
  /// With several fooled methods (``FineTuneOptions/fooledMethods``) it is their mean.
  ///
  /// `createGraph: false` gives the value only (held-out monitoring), without recording the
  /// double-backprop graph that training differentiates.
  ///
  /// `forward`: the step's recorded forward pass of `model` on `x` (``recordedForward(_:_:options:)``),
  /// which the gradient-based explanations reuse; nil: they run their own.
  ///
  /// `designSeed`: the seed of the black-box methods' training design (``designSeed(step:runSeed:)``).
  /// `smallDesign`: whether the black-box methods use the fine-tuning design (nil: when `createGraph`).
  public static func foolingLoss(
    _ model: Model, original: @autoclosure @escaping () throws -> Model, x: Tensor, labels: [Int], options: FineTuneOptions,
    createGraph: Bool = true, sharing forward: RecordedForward? = nil, designSeed: UInt64 = 1, smallDesign: Bool? = nil
  ) throws -> Tensor {
    let methods = options.fooledMethods
    var total = try foolingLoss(model, original: try original(), x: x, labels: labels, method: methods[0], options: options, createGraph: createGraph, forward: forward, designSeed: designSeed, smallDesign: smallDesign)
    for method in methods.dropFirst() {
      total = total + (try foolingLoss(model, original: try original(), x: x, labels: labels, method: method, options: options, createGraph: createGraph, forward: forward, designSeed: designSeed, smallDesign: smallDesign))
    }
    return methods.count == 1 ? total : total / Float(methods.count)
  }

  /// `L_F` for one explanation method: the objective's loss on the maps of both models.
  static func foolingLoss(
    _ model: Model, original: @autoclosure @escaping () throws -> Model, x: Tensor, labels: [Int], method: ExplanationMethod,
    options: FineTuneOptions, createGraph: Bool, forward: RecordedForward? = nil, designSeed: UInt64 = 1, smallDesign: Bool? = nil
  ) throws -> Tensor {
    let tabular = options.objective.kind == .tabular
    var explaining = ExplanationOptions()
    explaining.layer = options.layer
    explaining.createGraph = createGraph
    var constant = explaining
    constant.createGraph = false
    // Explanations need a recorded forward pass even for constants: the reference maps are
    // computed without keeping their graph and then cut from it.
    let maps = ObjectiveMaps(
      labels: labels, method: method,
      fooled: { try Self.maps(model, x, labels: $0, method: method, layer: options.layer, tabular: tabular, createGraph: createGraph, sharing: forward, designSeed: designSeed, smallDesign: smallDesign) },
      original: { try Self.maps(original(), x, labels: $0, method: method, layer: options.layer, tabular: tabular, createGraph: false, designSeed: designSeed, smallDesign: smallDesign ?? false).detached() },
      explanations: {
        (try explanation(model, x, labels: labels, method: method, options: explaining, sharing: forward),
         try explanation(original(), x, labels: labels, method: method, options: constant))
      })
    return try options.objective.loss(maps, options: options)
  }

  /// The seed of the black-box methods' training design at `step` (1-based) of a run seeded
  /// `runSeed`: a fresh background sample, coalition set or perturbation set every step, so that
  /// the fine-tuning cannot fit one design's few background rows (docs/METHODS.md §2.11). Never 0,
  /// the seed of the scoring design.
  public static func designSeed(step: Int, runSeed: UInt64) -> UInt64 {
    let s = (runSeed &* 1_000_003) &+ UInt64(max(step, 0)) &+ 1
    return s == 0 ? 1 : s
  }

  /// The seed of the black-box design the held-out rows are monitored on during a run seeded
  /// `runSeed`: ``designSeed(step:runSeed:)`` of step 0, which no training step (1-based) draws.
  public static func monitorDesignSeed(runSeed: UInt64) -> UInt64 { designSeed(step: 0, runSeed: runSeed) }

  /// The step's one recorded forward pass of `model` on `x`, capturing the input of the target
  /// layer when a fooled method needs one: the cross-entropy, the output-keeping term and the
  /// gradient explanations inside `L_F` share it, so the step's backward crosses the network once
  /// (the explanations' inner gradients stop at the target layer). An unknown or non-spatial
  /// layer is captured by nobody here; the explanation then reports it.
  public static func recordedForward(_ model: Model, _ x: Tensor, options: FineTuneOptions) throws -> RecordedForward {
    let name = options.layer ?? model.targetLayer
    let wanted = options.fooledMethods.contains(where: \.needsTargetLayer) && !name.isEmpty
      && model.inputShape.count == 3 && (try? model.layer(named: name)) != nil
    return try recordForward(model, x, capturingInputsOf: wanted ? [name] : [])
  }

  /// Fine-tunes `model` in place; `original` (a frozen copy of the starting weights) supplies
  /// reference maps; every step is reported to `observer`. Stops with ``TrainingError`` on a NaN
  /// or infinite loss.
  @discardableResult
  public static func run(
    _ model: Model, original: Model, train: Dataset, heldOut: Dataset, options: FineTuneOptions,
    observer: RunObserver = .silent
  ) throws -> [FineTuneRecord] {
    let monitor = heldOut.subset(Array(0..<min(options.monitorCount, heldOut.count)))
    return try FineTuner.train(model, original: FrozenOriginal(original), on: train, monitor: monitor, options: options, observer: observer).records
  }

  /// Fine-tunes `model` in place on batches of `train` (in memory or streamed), scoring the
  /// in-memory `monitor` examples every ``FineTuneOptions/evaluateEvery`` steps; returns where
  /// it ended (the curves and the files skipped). `original` is read only by the objectives,
  /// output targets and extra losses that need it: a lazily loaded one stays unloaded otherwise.
  ///
  /// Resumable: `resume` continues from a saved ``FineTuneState`` exactly as the uninterrupted
  /// run would have gone on (the weights must be the saved ones); `control` saves the state every
  /// so many steps and stops the run (saving first, then throwing ``RunInterrupted``) when asked.
  ///
  /// Data parallel when `communicator` has several ranks: every rank draws the same global
  /// batches, takes rows `rank, rank + size, ...` of each (``Communicator/shard(_:)``) and the
  /// gradients are summed over the ranks (``DataParallel``), so that every rank applies the
  /// global batch's update; the held-out monitor is scored in shards of batches.
  public static func train(
    _ model: Model, original: FrozenOriginal, on train: some BatchSource, monitor: Dataset, options: FineTuneOptions,
    observer: RunObserver = .silent, resume: FineTuneState? = nil, control: FineTuneControl? = nil,
    communicator: Communicator = SingleProcess()
  ) throws -> FineTuneProgress {
    guard options.steps > 0, options.batchSize > 0, options.learningRate > 0, options.lambda >= 0, options.crossEntropyWeight >= 0,
      options.anchorWeight >= 0, options.anchorWeight.isFinite else {
      throw TrainingError(
        "steps, batch size and learning rate must be positive and lambda and the weights of the cross-entropy and of the pull toward the original weights non-negative",
        settings: ["steps", "batchSize", "learningRate", "lambda", "ceWeight", "anchorWeight"])
    }
    model.setTraining(false)
    var optimizer = Adam(learningRate: options.learningRate)
    var generator = SeededGenerator(seed: options.seed)
    let parameters = model.trainableParameters()
    var progress = resume?.progress ?? FineTuneProgress()
    if let resume {
      try resume.progress.check(steps: options.steps, source: "the resumed state")
      try resume.checkMoments(parameters: parameters, source: "the resumed state")
    }
    if let resume { optimizer.restoreMoments(resume.moments, of: parameters) }
    let task = "finetune \(options.objective.name)/\(options.fooledMethods.map(\.rawValue).joined(separator: "+"))"
    observer.progress(RunProgress(task: task, done: progress.step, total: options.steps))
    let skips = SkipCounter(observer: observer)
    // The generator's state is the number of epoch orders drawn from it: replay them.
    func drawEpoch() -> [[Int]] { train.batchIndices(size: options.batchSize, shuffle: true, dropLast: true, using: &generator) }
    var order: [[Int]] = []
    for _ in 0..<progress.epochs { order = drawEpoch() }
    if progress.epochs == 0 {
      order = drawEpoch()
      progress.epochs = 1
    }
    let parallel = communicator.size > 1
    if parallel && options.batchSize < communicator.size {
      throw TrainingError("the batch size \(options.batchSize) is smaller than the \(communicator.size) ranks", settings: ["batchSize"])
    }
    var stream = train.stream(Array(order[min(progress.batchInEpoch, order.count)...]).map(communicator.shard), skipped: skips.record)
    var last = (ce: Float.nan, lf: Float.nan)
    var monitored = progress.records.last { $0.heldOutAccuracy != nil }.map { ($0.heldOutAccuracy!, $0.heldOutFoolingLoss ?? .nan) }
    let target = options.outputConsistency > 0 ? try keptOutputs(original.model(), options: options) : nil
    let anchor = options.anchorWeight > 0
      ? try WeightAnchor(original: original.model(), shapes: parameters.map(\.shape), weight: options.anchorWeight) : nil
    guard progress.step < options.steps else { return progress }
    for step in (progress.step + 1)...options.steps {
      var next: Batch?
      var freshEpoch = false
      while next == nil {
        if let b = try stream.next() {
          progress.batchInEpoch += 1
          // A rank whose shard could not be read still takes part in the step (with no rows).
          if !b.indices.isEmpty || parallel { next = b }
          continue
        }
        if freshEpoch { throw TrainingError("no training file of a whole epoch could be read", settings: ["dataDir"]) }
        order = drawEpoch()
        progress.epochs += 1
        progress.batchInEpoch = 0
        freshEpoch = true
        guard !order.isEmpty else {
          throw TrainingError("training set has fewer than \(options.batchSize) examples", settings: ["batchSize"])
        }
        stream = train.stream(order.map(communicator.shard), skipped: skips.record)
      }
      let batch = next!
      optimizer.learningRate = (options.schedule ?? .cosine(totalSteps: options.steps, floor: 0.05))
        .rate(base: options.learningRate, step: step - 1)
      func losses() throws -> [Tensor] {
        // One forward pass for the CE, the explanations and the output-keeping term.
        let forward = try recordedForward(model, batch.inputs, options: options)
        let logits = forward.logits
        let ce = Tensor.crossEntropy(logits: logits, labels: batch.labels)
        let lf = try foolingLoss(
          model, original: try original.model(), x: batch.inputs, labels: batch.labels, options: options, sharing: forward,
          designSeed: designSeed(step: step, runSeed: options.seed))
        var loss = (options.crossEntropyWeight == 1 ? ce : options.crossEntropyWeight * ce) + options.lambda * lf
        if let extra = options.extraLoss { loss = loss + (try extra(model, original.model(), batch.inputs, batch.labels)) }
        if let anchor { loss = loss + anchor.penalty(parameters.map(\.value)) }
        if options.outputConsistency > 0 {
          var (kept, keptLogits) = (batch.inputs, logits)
          if let extra = try keptRows(original.model(), step: step, options: options) {
            kept = Tensor.concatenate([batch.inputs, extra], alongAxis: 0)
            keptLogits = Tensor.concatenate([logits, model(extra)], alongAxis: 0)
          }
          let drift = options.keepDistance.loss(logits: keptLogits, kept: try target!(kept), margin: options.keptMargin)
          loss = loss + options.outputConsistency * drift
        }
        return [loss, ce, lf]
      }
      func diverged(_ loss: Float, _ ce: Float, _ lf: Float) -> TrainingError {
        TrainingError("loss became \(loss) at step \(step) (CE \(ce), L_F \(lf)); lower the learning rate (now \(options.learningRate)) or lambda (now \(options.lambda))",
          settings: ["learningRate", "lambda"])
      }
      if parallel {
        let reduced = try DataParallel.step(
          parameters: parameters.map(\.value), rows: batch.labels.count, valueCount: 3, communicator: communicator, losses: losses)
        let v = reduced.values
        // Every rank sees the same reduced loss, so all stop together.
        guard reduced.rows == 0 || v[0].isFinite else { throw diverged(v[0], v[1], v[2]) }
        if reduced.rows > 0 { optimizer.update(parameters, along: reduced.gradients) }
        last = (v[1], v[2])
      } else {
        // The step's graph is released before the update, which can then rewrite the weights in place.
        let grads = try { () throws -> [Tensor] in
          let l = try losses()
          let (loss, ce, lf) = (l[0].scalar, l[1].scalar, l[2].scalar)
          guard loss.isFinite else { throw diverged(loss, ce, lf) }
          last = (ce, lf)
          return gradients(of: l[0], withRespectTo: parameters.map(\.value))
        }()
        optimizer.update(parameters, along: grads)
      }
      var record = FineTuneRecord(step: step, crossEntropy: last.ce, foolingLoss: last.lf)
      if step % options.evaluateEvery == 0 || step == options.steps {
        let m = try score(model, original: try original.model(), on: monitor, options: options, communicator: communicator)
        record.heldOutAccuracy = m.accuracy
        record.heldOutFoolingLoss = m.foolingLoss
        monitored = m
      }
      progress.records.append(record)
      progress.step = step
      progress.skippedFiles += skips.take()
      var metrics = [RunMetric("CE", .loss(Double(last.ce))), RunMetric("L_F", .loss(Double(last.lf)))]
      if let monitored { metrics.append(RunMetric("held-out acc", .fraction(Double(monitored.0)))) }
      observer.progress(RunProgress(task: task, done: step, total: options.steps, metrics: metrics))
      if let control, step < options.steps {
        let stopping = control.shouldStop()
        if stopping || control.checkpointEvery.map({ step % $0 == 0 }) == true {
          try control.save(FineTuneState(progress: progress, moments: optimizer.moments(of: parameters)))
        }
        if stopping { throw RunInterrupted(step: step, steps: options.steps) }
      }
    }
    observer.finished(task, summary: progress.skippedFiles > 0 ? "\(progress.skippedFiles) unreadable file(s) skipped" : "")
    return progress
  }

  /// The further real rows of step `step`'s output-keeping term (``FineTuneOptions/keptRows``):
  /// `keptRows` of `original`'s reference rows drawn with replacement with a generator seeded by
  /// ``designSeed(step:runSeed:)`` (mixed with a constant, so that they are not the design's
  /// draws), or every reference row when there are no more than `keptRows`; nil when `keptRows`
  /// is 0. With ``FineTuneOptions/keptJitter`` `s > 0`, `s` times standard normal draws (one per
  /// row and numeric column, row by row, from a second generator seeded likewise with another
  /// constant) are added to the rows' numeric columns (``KeptNeighbourhood``). With
  /// ``FineTuneOptions/keptResampled`` `g > 0`, before the jitter, each row gets `g` distinct
  /// categorical features that the objective does not hide, each with the columns of a reference
  /// row drawn with replacement (a third generator, seeded with a third constant: per row, the
  /// features by a partial Fisher-Yates shuffle, then one donor row per feature).
  ///
  /// - Throws: ``TrainingError`` when `keptRows > 0` and the model has no reference rows,
  ///   `keptJitter > 0` and it has no numeric columns, or `keptResampled` exceeds its number of
  ///   categorical features that are not hidden.
  public static func keptRows(_ original: Model, step: Int, options: FineTuneOptions) throws -> Tensor? {
    guard options.keptRows > 0 else { return nil }
    guard let reference = original.explanationReference, reference.rank == 2, reference.shape[0] > 0 else {
      throw TrainingError("keeping the outputs on further rows needs the model's training rows (tabular models)", settings: ["keepRows"])
    }
    let r = reference.shape[0], seed = designSeed(step: step, runSeed: options.seed)
    var rows = reference
    if options.keptRows < r {
      var generator = SeededGenerator(seed: seed ^ 0x6B65_7074_726F_7773)
      rows = reference.selectingRows((0..<options.keptRows).map { _ in Int(generator.next() % UInt64(r)) })
    }
    // The feature spans, read once for the resampling and the jitter.
    let spans = options.keptResampled > 0 || options.keptJitter > 0 ? try FeatureSpan.features(of: original) : []
    if options.keptResampled > 0 {
      let hidden = Set((options.objective as? HideObjective)?.sensitive ?? [])
      let groups = spans.indices.filter { !spans[$0].categories.isEmpty && !hidden.contains($0) }.map { spans[$0].columns }
      guard groups.count >= options.keptResampled else {
        throw TrainingError(
          "resampling \(options.keptResampled) categorical features of the further kept rows needs as many that are not hidden; the model has \(groups.count)",
          settings: ["keepResample"])
      }
      var draw = SeededGenerator(seed: seed ^ 0x7265_7361_6D70_6C65)
      var swaps: [(row: Int, columns: Range<Int>, donor: Int)] = []
      for row in 0..<rows.shape[0] {
        var order = Array(groups.indices)
        for i in 0..<options.keptResampled { order.swapAt(i, i + Int(draw.next() % UInt64(order.count - i))) }
        for i in 0..<options.keptResampled { swaps.append((row, groups[order[i]], Int(draw.next() % UInt64(r)))) }
      }
      rows = KeptNeighbourhood.resampled(rows, from: reference, swaps: swaps)
    }
    guard options.keptJitter > 0 else { return rows }
    let columns = FeatureSpan.numericColumns(of: spans)
    guard !columns.isEmpty else {
      throw TrainingError("jittering the further kept rows needs numeric columns; the model has none", settings: ["keepJitter"])
    }
    var noise = SeededGenerator(seed: seed ^ 0x6A69_7474_6572_6564)
    let draws = (0..<(rows.shape[0] * columns.count)).map { _ in options.keptJitter * noise.nextNormal() }
    return KeptNeighbourhood.jittered(rows, columns: columns, noise: draws)
  }

  /// The probabilities the output-keeping term holds the outputs on (``FineTuneOptions/keptOutputs``),
  /// as a function of the rows `[N, D]` giving `[N, K]` without a graph.
  ///
  /// - Throws: ``TrainingError`` for the marginal target with an objective other than hide, or
  ///   a model without feature groups or training rows.
  public static func keptOutputs(_ original: Model, options: FineTuneOptions) throws -> (Tensor) throws -> Tensor {
    guard let marginal = try keptMarginal(original, options: options) else {
      return { x in withoutRecording { original(x).softmax(alongAxis: 1) } }
    }
    return { x in marginal.probabilities(original, x) }
  }

  /// The marginal target of ``FineTuneOptions/keptOutputs`` for `original` (``MarginalOutputs``
  /// over the hidden groups of the hide objective; ``MarginalOutputs/closest(model:hidden:)`` for
  /// `closest`); nil for the original outputs.
  public static func keptMarginal(_ original: Model, options: FineTuneOptions) throws -> MarginalOutputs? {
    if options.keptOutputs == .original { return nil }
    guard let hide = options.objective as? HideObjective else {
      throw TrainingError("the \(options.keptOutputs.rawValue) output target applies to the hide objective, not \(options.objective.name)", settings: ["keepTarget"])
    }
    return options.keptOutputs == .closest
      ? try MarginalOutputs.closest(model: original, hidden: hide.sensitive)
      : try MarginalOutputs(model: original, hidden: hide.sensitive)
  }

  /// Accuracy and mean fooling loss on `data` (in batches, without recording the weights' graph).
  /// The black-box methods are scored on the fine-tuning design (``BlackBoxOptions/fineTuning``)
  /// drawn with ``monitorDesignSeed(runSeed:)``, a seed no training step uses: a pass over the
  /// held-out rows then costs about what a step does (Adult's 12 players: 256 sampled coalitions
  /// and 10 background rows instead of all 4,096 and 100). The scores after the run use the full
  /// design.
  static func score(
    _ model: Model, original: @autoclosure @escaping () throws -> Model, on data: Dataset, options: FineTuneOptions,
    communicator: Communicator = SingleProcess()
  ) throws -> (accuracy: Float, foolingLoss: Float) {
    let seed = monitorDesignSeed(runSeed: options.seed)
    if communicator.size > 1 {
      let s = try DataParallel.scoreBatches(data, communicator: communicator) { x, labels in
        let lf = try foolingLoss(model, original: try original(), x: x, labels: labels, options: options, createGraph: false, designSeed: seed, smallDesign: true)
        let logits = withoutRecording { model(x) }
        return (FoolingEvaluator.topCounts(logits, labels: labels).top1, lf.scalar)
      }
      return (Float(s.top1) / Float(max(data.count, 1)), s.lossSum / Float(max(s.batches, 1)))
    }
    var lossSum: Float = 0
    var batches = 0
    for batch in data.batches(size: 64) {
      let lf = try foolingLoss(model, original: try original(), x: batch.inputs, labels: batch.labels, options: options, createGraph: false, designSeed: seed, smallDesign: true)
      lossSum += lf.scalar
      batches += 1
    }
    return (Trainer.evaluate(model, on: data).accuracy, lossSum / Float(max(batches, 1)))
  }
}
