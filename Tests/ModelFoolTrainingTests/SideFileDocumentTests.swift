import Foundation
import ModelFool
import ModelFoolData
import ModelFoolTraining
import Testing

/// Resume state, count files and calibrations as validated documents: the listed hostile cases,
/// then seeded mutations of valid documents (each must give a one-line error, never a trap).
@Suite struct SideFileDocumentTests {
  // MARK: Resume state

  static func progress(step: Int, epochs: Int) -> FineTuneProgress {
    var p = FineTuneProgress()
    (p.step, p.epochs, p.batchInEpoch) = (step, epochs, 2)
    let records = step > 0 ? (1...step).map { #"{"step":\#($0),"cross_entropy":1,"fooling_loss":1}"# } : []
    p.records = try! RunJSON.decode([FineTuneRecord].self, from: "[" + records.joined(separator: ",") + "]", what: "records")
    return p
  }

  @Test func resumeProgressIsRefusedOutsideTheRun() throws {
    try Self.progress(step: 5, epochs: 2).check(steps: 201, source: "s.h5")
    try Self.progress(step: 201, epochs: 202).check(steps: 201, source: "s.h5")
    let cases: [(FineTuneProgress, String)] = [
      // Step 10^6 of 201 wrote a "fine-tuned" model after 0.0 s.
      (Self.progress(step: 1_000_000, epochs: 1), "fine-tuning progress 'step' is 1000000; expected 0 ... 201, the run's steps"),
      // A negative epoch count trapped ("Range requires lowerBound <= upperBound"); 10^12 hung.
      (Self.progress(step: 5, epochs: -3), "fine-tuning progress 'epochs' is -3; expected 0 ... step + 1 = 6"),
      (Self.progress(step: 5, epochs: 1_000_000_000_000), "fine-tuning progress 'epochs' is 1000000000000; expected 0 ... step + 1 = 6"),
      (Self.progress(step: -1, epochs: 0), "fine-tuning progress 'step' is -1; expected 0 ... 201, the run's steps"),
    ]
    for (p, message) in cases {
      #expect { try p.check(steps: 201, source: "s.h5") } throws: { "\($0)" == "s.h5: " + message }
    }
    var p = Self.progress(step: 5, epochs: 2)
    p.skippedFiles = -1
    #expect { try p.check(steps: 201, source: "s.h5") } throws: { "\($0)" == "s.h5: fine-tuning progress 'skipped_files' is -1; expected 0 ... \(FineTuneProgress.maxCount)" }
    p = Self.progress(step: 5, epochs: 2)
    p.records[4].step = 9
    #expect { try p.check(steps: 201, source: "s.h5") } throws: { "\($0)" == "s.h5: fine-tuning progress 'records.step' is 9; expected 1 ... 5" }
  }

  @Test func resumeMomentsMustFitTheParameters() throws {
    let parameters = [Parameter(Tensor(shape: [2], scalars: [1, 2])), Parameter(Tensor(shape: [3], scalars: [1, 2, 3]))]
    let progress = Self.progress(step: 4, epochs: 1)
    try FineTuneState(progress: progress, moments: [([0, 0], [0, 0], 4), nil]).checkMoments(parameters: parameters, source: "adam.h5")
    let cases: [([(m: [Float], v: [Float], step: Int)?], String)] = [
      ([nil], "the number of Adam moments is 1; expected 2, one per trainable parameter"),
      ([([0], [0, 0], 4), nil], "Adam moments 0 is of 1 and 2 values; expected 2, the parameter's size"),
      ([([0, 0], [0, 0], 5), nil], "Adam step count 0 is 5; expected 1 ... 4, the steps done"),
      ([nil, ([0, 0, 0], [0, 0, 0], -7)], "Adam step count 1 is -7; expected 1 ... 4, the steps done"),
    ]
    for (moments, message) in cases {
      #expect { try FineTuneState(progress: progress, moments: moments).checkMoments(parameters: parameters, source: "adam.h5") } throws: {
        "\($0)" == "adam.h5: " + message
      }
    }
  }

  /// Seeded mutations of a valid progress document's integer fields with hostile values: each
  /// decodes and is refused by its check.
  @Test func seededMutationsOfResumeProgressAreRefused() throws {
    let valid = try RunJSON.encode(Self.progress(step: 6, epochs: 3))
    let hostile = [-1, -7, Int.min, Int.max, 1 << 40 + 1, 10_000_000_000_000]
    var g = SeededGenerator(seed: 7)
    for _ in 0..<200 {
      var object = try #require(JSONSerialization.jsonObject(with: Data(valid.utf8)) as? [String: Any])
      let field = ["step", "epochs", "batch_in_epoch", "skipped_files", "records"].randomElement(using: &g)!
      let value = hostile.randomElement(using: &g)!
      if field == "records" {
        var records = try #require(object["records"] as? [[String: Any]])
        records[Int.random(in: 0..<records.count, using: &g)]["step"] = value
        object["records"] = records
      } else {
        object[field] = value
      }
      let text = String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
      let p = try RunJSON.decode(FineTuneProgress.self, from: text, what: "state.h5")
      #expect(throws: DataError.self, "\(field) = \(value)") { try p.check(steps: 10, source: "state.h5") }
    }
  }

  // MARK: Count files

  /// Counts of `statistics` (location: success at most 0.2) with `skipped` files.
  static func counts(shard: String?, statistics: [Float], skipped: Int = 1) -> FoolingCounts {
    var c = FoolingCounts(objective: "location", statistic: "location", successRange: "<= 0.2")
    c.examples = statistics.count
    c.top1 = BeforeAfterCount(original: 1, fooled: 0)
    c.top5 = BeforeAfterCount(original: statistics.count, fooled: 1)
    c.skippedFiles = skipped
    var m = MethodCounts(method: "gradcam")
    m.statisticOriginal = statistics.map { $0 + 0.5 }
    m.statisticFooled = statistics
    (m.spearman, m.topK, m.pcc, m.mse) = (statistics, statistics, statistics, statistics)
    m.successes = BeforeAfterCount(original: 0, fooled: statistics.filter { $0 <= 0.2 }.count)
    m.originalFailures = statistics.count
    m.fooledSuccessesWhereOriginalFailed = m.successes.fooled
    c.methods = [m]
    c.shard = shard
    c.setup = "{}"
    c.modelDigests = ["0000aaaa", "0000bbbb"]
    return c
  }

  @Test func countFilesAreCheckedAndMergedWithCheckedArithmetic() throws {
    let a = Self.counts(shard: "0/2", statistics: [0.1, 0.3]), b = Self.counts(shard: "1/2", statistics: [0.15, 0.05, 0.9])
    let merged = try FoolingCounts.merge([b, a])
    #expect(merged.examples == 5 && merged.skippedFiles == 2 && merged.methods[0].successes.fooled == 3)
    #expect(merged.methods[0].statisticFooled == [0.1, 0.3, 0.15, 0.05, 0.9])
    #expect(merged.evaluation().fsr["gradcam"]?.fooled == 0.6)
    // 2^63 - 1 skipped files trapped on overflow when summed.
    var huge = b
    huge.skippedFiles = Int.max
    #expect { try FoolingCounts.merge([a, huge]) } throws: { "\($0)" == "the shards' skipped files overflow when summed (1 + \(Int.max))" }
    // Negative counts printed an FSR of -100.0% and an interval of "-nan%".
    var negative = b
    negative.methods[0].successes.fooled = -3
    #expect { try FoolingCounts.merge([a, negative]) } throws: {
      "\($0)" == "shard 1/2: method gradcam successes.fooled is -3; expected 2, the count of its statistics in <= 0.2"
    }
    var inconsistent = b
    inconsistent.examples = 4
    #expect { try inconsistent.check(source: "c.json") } throws: { "\($0)" == "c.json: method gradcam statistic_original is 3 values; expected one per example (4)" }
    inconsistent = b
    inconsistent.top1.fooled = 2
    #expect { try inconsistent.check(source: "c.json") } throws: { "\($0)" == "c.json: top1 is 1/2; expected at most top5 = 3/1" }
    // Shards scored with different weights at the same path are not merged.
    var other = b
    other.modelDigests = ["0000cccc", "0000bbbb"]
    #expect { try FoolingCounts.merge([a, other]) } throws: {
      "\($0)" == "shard 1/2 scored other model weights (digests 0000cccc, 0000bbbb) than shard 0/2 (0000aaaa, 0000bbbb)"
    }
    var old = b
    old.modelDigests = nil
    #expect { try FoolingCounts.merge([a, old]) } throws: {
      "\($0)" == "shard 1/2 scored other model weights (digests none) than shard 0/2 (0000aaaa, 0000bbbb)"
    }
    // A shard count of -1 or 10^18 trapped or allocated before the shards were counted.
    for bad in ["0/-1", "5/1000000000000000000"] {
      var s = b
      s.shard = bad
      #expect(throws: TrainingError.self, "\(bad)") { try FoolingCounts.merge([a, s]) }
    }
  }

  /// Seeded mutations of a valid count file: an integer field set to a hostile value, or a
  /// per-example list shortened. Each must be refused when read or when merged, never trap.
  @Test func seededMutationsOfCountFilesAreRefused() throws {
    let a = Self.counts(shard: "0/2", statistics: [0.1, 0.3]), b = Self.counts(shard: "1/2", statistics: [0.15, 0.05, 0.9])
    let valid = try RunJSON.encode(b)
    let hostile = [-1, -5, Int.min, Int.max, 4, 1_000_000]
    var g = SeededGenerator(seed: 11)
    for _ in 0..<300 {
      var object = try #require(JSONSerialization.jsonObject(with: Data(valid.utf8)) as? [String: Any])
      var method = try #require((object["methods"] as? [[String: Any]])?.first)
      let value = hostile.randomElement(using: &g)!
      let what: String
      switch Int.random(in: 0..<4, using: &g) {
      case 0:
        // Any skipped-file count is consistent alone: only a negative one, or one that overflows
        // the sum, is refused.
        what = value < 0 || value == Int.max ? ["examples", "skipped_files"].randomElement(using: &g)! : "examples"
        object[what] = value
      case 1:
        let pair = ["top1", "top5"].randomElement(using: &g)!, side = ["original", "fooled"].randomElement(using: &g)!
        var counts = try #require(object[pair] as? [String: Any])
        counts[side] = value
        object[pair] = counts
        what = pair + "." + side
      case 2:
        what = ["original_failures", "fooled_successes_where_original_failed"].randomElement(using: &g)!
        method[what] = value
      default:
        what = ["statistic_original", "statistic_fooled", "spearman", "top_k", "pcc", "mse"].randomElement(using: &g)!
        method[what] = Array(try #require(method[what] as? [Double]).dropLast())
      }
      object["methods"] = [method]
      let text = String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
      #expect(throws: (any Error).self, "\(what) = \(value)") {
        let part = try RunJSON.decode(FoolingCounts.self, from: text, what: "c.json")
        _ = try FoolingCounts.merge([a, part])
      }
    }
  }

  // MARK: Calibrations

  static func calibrationText(_ edit: (inout [String: Any]) -> Void = { _ in }) throws -> String {
    let clean = [0.30, 0.32, 0.34].map { AuditTests.report(["sameness gradcam": Float($0), "noise gradcam": 0.1]) }
    var object = try #require(JSONSerialization.jsonObject(with: Data(try RunJSON.encode(try AuditCalibration.make(clean)).utf8)) as? [String: Any])
    edit(&object)
    return String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
  }

  @Test func calibrationsAreValidatedDocuments() throws {
    let good = try RunJSON.decode(AuditCalibration.self, from: try Self.calibrationText(), what: "cal.json")
    #expect(good.dataset == "german" && good.modelDigests.count == 3)
    func statistic(_ mean: Any, _ sd: Any) -> (inout [String: Any]) -> Void {
      { $0["statistics"] = ["sameness gradcam": ["mean": mean, "sd": sd]] }
    }
    let cases: [((inout [String: Any]) -> Void, String)] = [
      (statistic(0.3, 0), "statistic 'sameness gradcam' sd is 0.0; expected finite and at least 0.01"),
      (statistic(0.3, -0.5), "statistic 'sameness gradcam' sd is -0.5; expected finite and at least 0.01"),
      (statistic(0.3, "nan"), "statistic 'sameness gradcam' sd is nan; expected finite and at least 0.01"),
      (statistic("nan", 0.1), "statistic 'sameness gradcam' mean is nan; expected a finite number"),
      (statistic(0.3, "inf"), "statistic 'sameness gradcam' sd is inf; expected finite and at least 0.01"),
      ({ $0["statistics"] = [String: Any]() }, "statistics is empty; expected at least one statistic"),
      ({ $0["leave_one_out_p"] = [0.5, 2, 0.5] }, "leave_one_out_p is 2.0; expected a p-value in [0, 1]"),
      ({ $0["leave_one_out_p"] = [0.5] }, "leave_one_out_p is 1 scores; expected one per model (3)"),
      ({ $0["model_digests"] = ["a", "a", "b"] }, #"model_digests is ["a", "a", "b"]; expected distinct models (a model counted twice)"#),
      ({ $0["models"] = ["m.h5", "m.h5"]; $0["model_digests"] = ["a", "b"]; $0["leave_one_out_p"] = [1, 1] }, "models is 2; expected at least 3 clean models"),
      ({ $0["format"] = "other" }, "format is 'other'; expected 'modelfool-audit-calibration' (made by audit calibrate)"),
    ]
    for (edit, message) in cases {
      let text = try Self.calibrationText(edit)
      #expect { try RunJSON.decode(AuditCalibration.self, from: text, what: "cal.json") } throws: { "\($0)" == "cal.json: " + message }
    }
    // A calibration file without a data set or digests (an older one) is refused.
    #expect { try RunJSON.decode(AuditCalibration.self, from: try Self.calibrationText { $0["dataset"] = nil }, what: "cal.json") } throws: {
      "\($0)".hasPrefix("cal.json is not a valid AuditCalibration document (missing 'dataset'")
    }
  }

  @Test func calibrationNeedsDistinctModelsOfOneDataSetAndScoresOnlyItsOwn() throws {
    let values: [[String: Float]] = [0.30, 0.32, 0.34].map { ["sameness gradcam": Float($0)] }
    // One model three times (same weights under three names) is refused.
    let same = values.enumerated().map { AuditTests.report($0.element, model: "m\($0.offset).h5", digest: "d") }
    #expect { try AuditCalibration.make(same) } throws: {
      "\($0)" == "m0.h5 and m1.h5 are the same model (weights digest d): a calibration needs distinct clean models"
    }
    let mixed = values.enumerated().map { AuditTests.report($0.element, dataset: $0.offset == 2 ? "adult" : "german") }
    #expect { try AuditCalibration.make(mixed) } throws: { "\($0)" == "the clean models were measured on different data: adult, german" }
    let c = try AuditCalibration.make(values.map { AuditTests.report($0) })
    try c.checkApplies(to: AuditTests.report(["sameness gradcam": 0.9, "noise gradcam": 0.1]), source: "cal.json")
    #expect { try c.checkApplies(to: AuditTests.report(["sameness gradcam": 0.9], dataset: "adult"), source: "cal.json") } throws: {
      "\($0)" == "the calibration cal.json was measured on german, m.h5 on adult"
    }
    #expect { try c.checkApplies(to: AuditTests.report(["noise gradcam": 0.1]), source: "cal.json") } throws: {
      "\($0)".hasPrefix("the calibration cal.json holds statistic 'sameness gradcam', which was not measured for m.h5")
    }
  }

  /// Seeded mutations of a valid calibration's numbers: each is refused on load.
  @Test func seededMutationsOfCalibrationsAreRefused() throws {
    var g = SeededGenerator(seed: 5)
    let badSD: [Any] = [0, -1, -0.001, 0.009, "nan", "inf", "-inf"], badMean: [Any] = ["nan", "inf", "-inf"], badP: [Any] = [-0.1, 1.5, "nan"]
    for _ in 0..<120 {
      let kind = Int.random(in: 0..<3, using: &g)
      let text = try Self.calibrationText { object in
        var statistics = object["statistics"] as! [String: [String: Any]]
        let name = statistics.keys.sorted().randomElement(using: &g)!
        switch kind {
        case 0: statistics[name]!["sd"] = badSD.randomElement(using: &g)!
        case 1: statistics[name]!["mean"] = badMean.randomElement(using: &g)!
        default:
          var p = object["leave_one_out_p"] as! [Any]
          p[Int.random(in: 0..<p.count, using: &g)] = badP.randomElement(using: &g)!
          object["leave_one_out_p"] = p
        }
        object["statistics"] = statistics
      }
      #expect(throws: DataError.self, "\(text)") { try RunJSON.decode(AuditCalibration.self, from: text, what: "cal.json") }
    }
  }
}
