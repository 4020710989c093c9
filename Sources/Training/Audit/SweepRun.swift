import Foundation
import ModelFool
import ModelFoolData
import ModelFoolVersionInfo

/// A grid of fine-tunings: one base ``FineTuneSettings`` and lists of values for some of its
/// hyper-parameters (`modelfool sweep`).
public struct SweepSettings: Codable, Sendable, Equatable {
  /// The fine-tuning every run starts from.
  public var finetune: FineTuneSettings
  /// Values of `lambda`, `learningRate` and `steps`; nil or empty: the base setting's.
  public var lambdas: [Float]?
  public var learningRates: [Float]?
  public var steps: [Int]?

  public init(finetune: FineTuneSettings) { self.finetune = finetune }

  /// Every combination, lambda varying slowest, then the learning rate, then the steps.
  public func expanded() -> [FineTuneSettings] {
    func values<T>(_ list: [T]?, _ base: T?) -> [T?] { (list?.isEmpty ?? true) ? [base] : list!.map { $0 } }
    var out: [FineTuneSettings] = []
    for l in values(lambdas, finetune.lambda) {
      for r in values(learningRates, finetune.learningRate) {
        for s in values(steps, finetune.steps) {
          var one = finetune
          (one.lambda, one.learningRate, one.steps) = (l, r, s)
          out.append(one)
        }
      }
    }
    return out
  }

  /// The sub-folder name of a run: `lambda-10_lr-0.003_steps-400`, with only the swept settings.
  public func folderName(_ run: FineTuneSettings) -> String {
    var parts: [String] = []
    if !(lambdas?.isEmpty ?? true) { parts.append("lambda-\(run.lambda.map { "\($0)" } ?? "default")") }
    if !(learningRates?.isEmpty ?? true) { parts.append("lr-\(run.learningRate.map { "\($0)" } ?? "default")") }
    if !(steps?.isEmpty ?? true) { parts.append("steps-\(run.steps.map { "\($0)" } ?? "default")") }
    return parts.isEmpty ? "run" : parts.joined(separator: "_")
  }

  /// Checks the grid before anything runs.
  public func validate() throws {
    for run in expanded() { try run.validate() }
    if expanded().count > 64 { throw TrainingError("a sweep of \(expanded().count) runs is too large (at most 64)", settings: ["lambda"]) }
  }
}

/// One run of a sweep: where it went and the trade-off it struck.
public struct SweepPoint: Codable, Sendable {
  /// The run's folder, relative to the sweep's.
  public var folder: String
  public var lambda: Float?
  public var learningRate: Float?
  public var steps: Int?
  /// The first fooled method and its held-out FSR (fooled model).
  public var method: String
  public var fsr: Float
  /// Held-out accuracy of the fine-tuned model minus the original's.
  public var accuracyChange: Float

  public init(folder: String, lambda: Float?, learningRate: Float?, steps: Int?, method: String, fsr: Float, accuracyChange: Float) {
    (self.folder, self.lambda, self.learningRate, self.steps) = (folder, lambda, learningRate, steps)
    (self.method, self.fsr, self.accuracyChange) = (method, fsr, accuracyChange)
  }
}

/// What `sweep.json` holds.
public struct SweepReport: Codable, Sendable {
  public var modelfool: String
  public var settings: SweepSettings
  public var points: [SweepPoint]

  public init(modelfool: String, settings: SweepSettings, points: [SweepPoint]) {
    (self.modelfool, self.settings, self.points) = (modelfool, settings, points)
  }

  /// One line per run.
  public func table() -> String {
    TextTable(
      header: ["run", "method", "FSR", "accuracy change"],
      rows: points.map { [$0.folder, $0.method, String(format: "%.3f", $0.fsr), String(format: "%+.4f", $0.accuracyChange)] },
      leftColumns: 2
    ).render()
  }
}

/// A sweep as a library object: a ``FineTuneRun`` per combination of ``SweepSettings``, each
/// written to its own sub-folder, then one page plotting FSR against the accuracy change (the
/// trade-off front of Heo et al. 2019's figures), linking every run's report.
public struct SweepRun: Sendable {
  public var settings: SweepSettings
  public var datasetsRoot: String
  public var observer: RunObserver

  public init(settings: SweepSettings, datasetsRoot: String = DatasetCatalog.defaultRoot, observer: RunObserver = .silent) {
    self.settings = settings
    self.datasetsRoot = datasetsRoot
    self.observer = observer
  }

  /// Runs every fine-tuning into `folder/NAME` and writes `folder/sweep.json` and `folder/report.html`.
  public func run(into folder: String) throws -> SweepReport {
    try settings.validate()
    var points: [SweepPoint] = []
    let runs = settings.expanded()
    for (i, one) in runs.enumerated() {
      let name = settings.folderName(one)
      observer.message("sweep run \(i + 1)/\(runs.count): \(name)")
      let outcome = try FineTuneRun(settings: one, datasetsRoot: datasetsRoot, observer: observer).run()
      try outcome.write(to: folder + "/" + name)
      let resolved = outcome.report.run.settings, evaluation = outcome.report.evaluation
      let method = resolved.methods?.first?.rawValue ?? evaluation.methods.first?.method ?? ""
      points.append(SweepPoint(
        folder: name, lambda: resolved.lambda, learningRate: resolved.learningRate, steps: resolved.steps, method: method,
        fsr: evaluation.fsr[method]?.fooled ?? .nan, accuracyChange: evaluation.accuracy.fooled - evaluation.accuracy.original))
    }
    let report = SweepReport(modelfool: ModelFoolVersion.description, settings: settings, points: points)
    try Self.writePage(report, to: folder)
    return report
  }

  /// Writes `sweep.json`, `front.svg` and `report.html` into `folder`.
  public static func writePage(_ report: SweepReport, to folder: String) throws {
    let json = try RunJSON.encode(report) + "\n"
    let svg = AuditChart.scatter(
      title: "FSR against accuracy change, one point per run (click: its report)", xLabel: "held-out accuracy change",
      yLabel: "FSR of the fooled method",
      points: report.points.map { AuditChart.Point(x: Double($0.accuracyChange), y: Double($0.fsr), label: $0.folder, link: $0.folder + "/report.html") })
    var html = ReportHTML.head(title: "ModelFool sweep")
    html += "<h1>Sweep: the fooling / accuracy trade-off</h1><p>\(report.points.count) fine-tunings of \(ReportHTML.escape(report.settings.finetune.dataset)) "
      + "(\(ReportHTML.escape(report.settings.finetune.objective ?? "default objective"))); each point is one run, its FSR on held-out data against the change in held-out accuracy.</p>"
    html += "<object type=\"image/svg+xml\" data=\"front.svg\"><img src=\"front.svg\" alt=\"trade-off front\"></object>"
    html += ReportHTML.table(
      header: ["run", "lambda", "lr", "steps", "method", "FSR", "accuracy change"],
      rows: report.points.map { p in
        ["<a href=\"\(ReportHTML.escape(p.folder))/report.html\">\(ReportHTML.escape(p.folder))</a>", p.lambda.map { "\($0)" } ?? "–",
         p.learningRate.map { "\($0)" } ?? "–", p.steps.map { "\($0)" } ?? "–", p.method, String(format: "%.3f", p.fsr),
         String(format: "%+.4f", p.accuracyChange)]
      })
    html += ReportHTML.tail
    try RunOutputs.write(into: folder) { staging in
      try RunOutputs.writeText(json, to: staging + "/sweep.json")
      try RunOutputs.writeText(svg, to: staging + "/front.svg")
      try RunOutputs.writeText(html, to: staging + "/report.html")
    }
  }
}
