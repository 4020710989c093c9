import Foundation
import Testing

/// `audit sanity`, `audit manipulation`, `audit calibrate`, `train --shuffle-labels` and `sweep`
/// as a user runs them (tiny German-credit settings).
@Suite("modelfool binary: audit and sweep")
struct AuditCLITests {
  @Test func sanityChecksWithAPermutedLabelModel() throws {
    let model = try CLI.germanCheckpoint.get()
    let folder = try CLI.temporaryFolder()
    let t = try CLI.run(["train", "--dataset", "german", "--epochs", "1", "--shuffle-labels", "--out", "shuffled.h5", "--json"], in: folder)
    #expect(t.status == 0, "\(t.stderr)")
    #expect((try t.object()["label_shuffle"] as? String)?.contains("permuted") == true)
    let r = try CLI.run(
      ["audit", "sanity", "--model", model, "--methods", "simplegrad,lrp", "--count", "12", "--shuffled-model", "shuffled.h5",
       "--out", "sanity", "--json"], in: folder)
    #expect(r.status == 0, "\(r.stderr)")
    let json = try r.object()
    #expect(json["layers"] as? [String] == ["2", "0"] && json["examples"] as? Int == 12)
    let cascade = try #require(json["cascading"] as? [[String: Any]])
    #expect(cascade.map { $0["layer"] as? String } == ["none", "2", "0"])
    let none = try #require((cascade[0]["similarity"] as? [String: Any])?["lrp"] as? [String: Double])
    #expect(none["spearman_abs"] == 1 && none["spearman_signed"] == 1 && none["top_k"] == 1)
    #expect((json["data_randomisation"] as? [String: Any])?["layer"] as? String == "labels")
    for file in ["report.json", "report.html", "cascading-spearman-abs.svg", "independent-topk.svg"] {
      #expect(FileManager.default.fileExists(atPath: folder + "/sanity/" + file), "\(file)")
    }
  }

  /// The black-box methods in both audits: the unrandomised model's KernelSHAP and LIME maps equal
  /// themselves (same seeded design), randomising every layer changes them, and each method's
  /// feature shares sum to 1 over German's 20 features.
  @Test func auditsTakeTheBlackBoxMethods() throws {
    let model = try CLI.germanCheckpoint.get()
    let folder = try CLI.temporaryFolder()
    let r = try CLI.run(
      ["audit", "sanity", "--model", model, "--methods", "kernelshap,lime", "--count", "6", "--out", "sanity", "--json"], in: folder)
    #expect(r.status == 0, "\(r.stderr)")
    let cascade = try #require(try r.object()["cascading"] as? [[String: Any]])
    for method in ["kernelshap", "lime"] {
      let none = try #require((cascade[0]["similarity"] as? [String: Any])?[method] as? [String: Double])
      #expect(none["spearman_abs"] == 1 && none["spearman_signed"] == 1 && none["top_k"] == 1, "\(method): \(none)")
      let all = try #require((cascade.last?["similarity"] as? [String: Any])?[method] as? [String: Double])
      #expect(try #require(all["spearman_signed"]) < 1, "\(method): \(all)")
    }
    let m = try CLI.run(["audit", "manipulation", "--model", model, "--methods", "kernelshap,lime", "--count", "12", "--json"], in: folder)
    #expect(m.status == 0, "\(m.stderr)")
    let rows = try #require(try m.object()["statistics"] as? [[String: Any]])
    for method in ["kernelshap", "lime"] {
      let shares = rows.filter { ($0["name"] as? String)?.hasPrefix("share \(method) ") == true }.compactMap { $0["value"] as? Double }
      #expect(shares.count == 20 && abs(shares.reduce(0, +) - 1) < 1e-4, "\(method): \(shares)")
      #expect(rows.contains { $0["name"] as? String == "noise \(method)" })
    }
  }

  @Test func manipulationAuditCalibratesAndScores() throws {
    let model = try CLI.germanCheckpoint.get()
    let folder = try CLI.temporaryFolder()
    for seed in 1...2 {
      let t = try CLI.run(["train", "--dataset", "german", "--epochs", "1", "--seed", "\(seed)", "--out", "c\(seed).h5"], in: folder)
      #expect(t.status == 0, "\(t.stderr)")
    }
    let plain = try CLI.run(["audit", "manipulation", "--model", model, "--count", "40", "--json"], in: folder)
    #expect(plain.status == 0, "\(plain.stderr)")
    let unscored = try plain.object()
    #expect(unscored["verdict"] as? String == "uncalibrated")
    let names = try #require((unscored["statistics"] as? [[String: Any]])?.compactMap { $0["name"] as? String })
    #expect(names.contains("sameness simplegrad") && names.contains("noise lrp") && names.contains("smoothing ig"))
    // Both credit classes have at least 5 of the 40 examples: each gets its own disagreement.
    #expect(names.contains("disagreement lrp label 0") && names.contains("disagreement lrp label 1"))
    let c = try CLI.run(["audit", "calibrate", "--models", "\(model),c1.h5,c2.h5", "--count", "16", "--out", "cal.json", "--json"], in: folder)
    #expect(c.status == 0, "\(c.stderr)")
    // Three clean models: each one's leave-one-out score is a corrected p-value.
    let loo = try #require(try c.object()["leave_one_out_p"] as? [Double])
    #expect(loo.count == 3 && loo.allSatisfy { $0 > 0 && $0 <= 1 })
    let r = try CLI.run(["audit", "manipulation", "--model", model, "--count", "16", "--calibration", "cal.json", "--reference", "c1.h5", "--json"], in: folder)
    #expect(r.status == 0, "\(r.stderr)")
    let json = try r.object()
    // One of the calibration's own models: its corrected p-value is not below alpha.
    #expect(json["verdict"] as? String == "clean")
    #expect(json["threshold"] as? Double == 0.05)
    #expect((json["score"] as? Double).map { $0 >= 0.05 && $0 <= 1 } == true)
    let tested = try #require(json["statistics_tested"] as? Int)
    let rows = try #require(json["statistics"] as? [[String: Any]])
    // Every calibrated statistic has a p-value; the reference statistics were not calibrated with
    // a reference here, so they have none and are not counted.
    #expect(rows.filter { $0["p"] != nil }.count == tested && rows.contains { $0["p"] == nil })
    #expect((json["statistics"] as? [[String: Any]])?.contains { ($0["name"] as? String) == "reference simplegrad" } == true)
  }

  @Test func sweepRunsOneFineTuningPerValue() throws {
    let model = try CLI.germanCheckpoint.get()
    let folder = try CLI.temporaryFolder()
    let r = try CLI.run(
      ["sweep", "--lambda", "0,30", "--out", "sw", "--json", "--", "finetune", "--dataset", "german", "--model", model,
       "--objective", "hide", "--steps", "3", "--eval-count", "20", "--methods", "simplegrad"], in: folder)
    #expect(r.status == 0, "\(r.stderr)")
    let points = try #require(try r.object()["points"] as? [[String: Any]])
    #expect(points.compactMap { $0["lambda"] as? Double } == [0, 30])
    #expect(points.compactMap { $0["folder"] as? String } == ["lambda-0.0", "lambda-30.0"])
    for file in ["sw/report.html", "sw/front.svg", "sw/sweep.json", "sw/lambda-0.0/report.html", "sw/lambda-30.0/model.h5"] {
      #expect(FileManager.default.fileExists(atPath: folder + "/" + file), "\(file)")
    }
  }
}
