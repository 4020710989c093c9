import Foundation
import ModelFool
import ModelFoolData
import ModelFoolTraining
import Testing

/// Slack et al.'s scaffolding attack (`modelfool scaffold`): the rules, the scaffold's switch, the
/// rank rates, the detector's perturbations and the attack on COMPAS.
@Suite("Scaffolding LIME and SHAP")
struct ScaffoldTests {
  /// Twelve rows named like Adult (hours, sex one-hot, job one-hot); `>50K` (1) is favourable.
  static func rows() -> DatasetSplit {
    var generator = SeededGenerator(seed: 5)
    var x: [Float] = [], labels: [Int] = []
    for r in 0..<12 {
      let female = r % 3 == 0, farmer = r % 2 == 0
      x += [Float(r) / 4 - 1, female ? 1 : 0, female ? 0 : 1, farmer ? 1 : 0, farmer ? 0 : 1]
      labels.append(Int(generator.next() % 2))
    }
    let features = [
      FeatureGroup(name: "hours", start: 0, width: 1),
      FeatureGroup(name: "sex", start: 1, width: 2, categories: ["Female", "Male"], isSensitive: true),
      FeatureGroup(name: "job", start: 3, width: 2, categories: ["farmer", "fisher"]),
    ]
    let data = Dataset(name: "adult", inputs: Tensor(shape: [12, 5], scalars: x), labels: labels,
                       classNames: AdultDataset.classNames, features: features)
    return DatasetSplit(train: data, test: data)
  }

  static var quick: ScaffoldSettings {
    var s = ScaffoldSettings()
    (s.repeats, s.epochs, s.hidden, s.batchSize) = (2, 2, [8], 16)
    return s
  }

  @Test func theBiasedModelDecidesFromTheSensitiveFeatureOnly() throws {
    let data = try ScaffoldData(split: Self.rows(), sensitive: "sex", innocuous: .oneDecoy, seed: 1)
    // The profile of adult biases against sex=Female; <=50K (0) is the unfavourable class.
    #expect(data.biasedRule == ThresholdRule(columns: [1], weights: [1], threshold: 0.5, unfavourable: 0, favourable: 1, summary: "sex = Female"))
    #expect(data.innocuousRule.columns == [5] && data.innocuousRule.threshold == 0)
    #expect(data.sensitivePlayer == 1 && data.innocuousPlayers == [3])
    #expect(Set(data.split.train.inputs.scalars.enumerated().filter { $0.offset % 6 == 5 }.map(\.element)) == [-1, 1])
    let network = try ScaffoldRun.build(data: data, settings: Self.quick, background: ScaffoldRun.background(data: data, settings: Self.quick))
    // Only the Female column has a weight: 1000 on the unfavourable logit, bias -500.
    let w = network.biased.namedParameters().first { $0.name == "0.weight" }!.parameter.value.scalars
    #expect(w == [0, 1000, 0, 0, 0, 0] + [0, 0, 0, 0, 0, 0])
    // Random rows: f's logits depend on the Female column alone, whatever the other columns hold.
    var generator = SeededGenerator(seed: 9)
    var x: [Float] = []
    for r in 0..<40 {
      for c in 0..<6 { x.append(c == 1 ? Float(r % 2) : Float(generator.next() % 2001) / 100 - 10) }
    }
    let logits = network.biased(Tensor(shape: [40, 6], scalars: x)).scalars
    for r in 0..<40 {
      #expect(logits[2 * r] == (r % 2 == 1 ? 500 : -500) && logits[2 * r + 1] == 0)
    }
  }

  @Test func theScaffoldIsTheBiasedModelOnRowsTakenForRealAndTheInnocuousOneElsewhere() throws {
    let data = try ScaffoldData(split: Self.rows(), sensitive: "sex", innocuous: .twoDecoys, seed: 2)
    #expect(data.innocuousRule.columns == [5, 6] && data.innocuousRule.threshold == 1)
    let trained = try ScaffoldRun.build(data: data, settings: Self.quick, background: ScaffoldRun.background(data: data, settings: Self.quick))
    var generator = SeededGenerator(seed: 4)
    let x = Tensor(shape: [64, 7], scalars: (0..<(64 * 7)).map { _ in Float(generator.next() % 401) / 100 - 2 })
    // The median of the detector's "real" probability as threshold: both sides are populated.
    let p = trained.detector(x).softmax(alongAxis: -1).scalars
    let real = (0..<64).map { p[2 * $0] }.sorted()
    let network = ScaffoldNetwork(biased: trained.biased, innocuous: trained.innocuous, detector: trained.detector, threshold: real[32])
    let inside = network.inDistribution(x)
    #expect(inside.filter { $0 }.count == 32)
    let (e, f, psi) = (network(x).scalars, trained.biased(x).scalars, trained.innocuous(x).scalars)
    for r in 0..<64 {
      let expected = inside[r] ? f : psi
      #expect(e[2 * r] == expected[2 * r] && e[2 * r + 1] == expected[2 * r + 1], "row \(r)")
    }
  }

  @Test func seenValuesPassOnlyRowsWhoseLatticeValuesOccurInTheTrainRows() {
    let features = [
      FeatureGroup(name: "n", start: 0, width: 1), FeatureGroup(name: "amount", start: 1, width: 1),
      FeatureGroup(name: "c", start: 2, width: 2, categories: ["a", "b"]),
    ]
    // 30 rows: n cycles through 0, 1, 2.5 (3 values, one per 10 rows: checked); amount is r / 7
    // (30 values: not checked).
    let train = Tensor(shape: [30, 4], scalars: (0..<30).flatMap { r -> [Float] in [[0, 1, 2.5][r % 3], Float(r) / 7, 1, 0] })
    let seen = SeenValues(train: train, features: features)
    #expect(seen.columns.count == 1 && seen.columns[0].column == 0 && seen.columns[0].values == [0, 1, 2.5])
    // One-hot columns and amounts are not checked; 1.000001 is within 1e-5 of 1.
    let rows = Tensor(shape: [5, 4], scalars: [1, 99, 0.5, 0.5, 1.5, 0, 1, 0, 2.5, -3, 0, 1, 1.000001, 0, 0, 1, -1, 0, 1, 0])
    #expect(seen.contains(rows) == [true, false, true, true, false])
  }

  @Test func rankRatesCountTiesForThePlayerRanked() {
    // Ranks of player 0: 3, 1 (all tie at 0), 1 (tie), 2; of player 1: 1, 1, 1, 3.
    let values: [Float] = [0.1, -0.5, 0.2, 0, 0, 0, 0.3, 0.3, -0.1, -0.2, 0.05, 0.3]
    #expect(RankRates.of(player: 0, in: values, players: 3) == RankRates(first: 0.5, second: 0.25, third: 0.25))
    #expect(RankRates.of(player: 1, in: values, players: 3) == RankRates(first: 0.75, second: 0, third: 0.25))
  }

  @Test func kernelSHAPPerturbationsTakeEachFeatureFromOneOfTwoRealRows() throws {
    let real = Self.rows().train
    let fake = try OODClassifier.perturbations(of: real.inputs, players: real.features, source: .kernelshap, background: real.inputs, count: 50, seed: 3)
    let (x, y) = (real.inputs.scalars, fake.scalars)
    var mixed = 0
    for s in 0..<50 {
      // Each feature group of the perturbation equals that group of some real row.
      let sources = real.features.map { f in
        Set((0..<12).filter { r in f.columns.allSatisfy { x[r * 5 + $0] == y[s * 5 + $0] } })
      }
      #expect(sources.allSatisfy { !$0.isEmpty })
      if sources.reduce(Set(0..<12), { $0.intersection($1) }).isEmpty { mixed += 1 }
    }
    #expect(mixed > 10)
  }

  @Test func onCOMPASTheScaffoldKeepsFAndHidesRaceFromLIMEAndKernelSHAP() throws {
    var settings = ScaffoldSettings()
    (settings.dataset, settings.sensitive, settings.seed) = ("compas", "race", 0)
    (settings.repeats, settings.epochs, settings.explainedRows, settings.limeSamples, settings.coalitions) = (3, 4, 40, 1000, 256)
    let outcome = try ScaffoldRun(settings: settings, datasetsRoot: "datasets").run()
    let r = outcome.report
    #expect(r.biasedRule == "race = African-American" && r.innocuousFeatures == ["decoy_1"])
    #expect(r.fidelity >= 0.9, "fidelity \(r.fidelity)")
    let lime = try #require(r.rankings.first { $0.explainer == .lime })
    // f alone: race is LIME's first feature on (nearly) every row; the scaffold: far less often,
    // and the decoy takes its place.
    #expect(lime.biasedSensitive.first >= lime.scaffoldSensitive.first + 0.5, "\(lime)")
    #expect(lime.scaffoldInnocuous["decoy_1"]!.first >= lime.scaffoldSensitive.first + 0.5, "\(lime)")
    // Slack et al.'s figures as their paper states them.
    #expect(lime.paper?.topFeatureMoved == 1 && lime.paper?.fidelity == 1 && lime.paper?.source == "as stated in Slack et al. 2020, AIES")
    let stated: [(String, ScaffoldExplainer, Int, Double, Double?)] = [("compas", .kernelshap, 1, 0.84, 0.91), ("compas", .kernelshap, 2, 0.67, nil), ("german", .lime, 0, 0.91, 1.0), ("german", .kernelshap, 0, 0.85, 0.80)]
    for (dataset, explainer, decoys, moved, fidelity) in stated {
      let p = PaperScaffoldNumbers.of(dataset: dataset, explainer: explainer, decoys: decoys)
      #expect(p?.topFeatureMoved == moved && p?.fidelity == fidelity, "\(dataset) \(explainer) \(decoys)")
    }
    #expect(PaperScaffoldNumbers.of(dataset: "adult", explainer: .lime) == nil)
    #expect(lime.topFeatureMoved >= 0.9 && lime.topFeatureMoved <= lime.scaffoldInnocuous["decoy_1"]!.first, "\(lime)")
    // KernelSHAP against the 10 k-means centres is fooled too.
    let shap = try #require(r.rankings.first { $0.explainer == .kernelshap })
    #expect(shap.biasedSensitive.first >= shap.scaffoldSensitive.first + 0.5, "\(shap)")
    // The outputs: the report, the scaffold as one checkpoint and f alone.
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("scaffold-\(getpid())").path
    defer { try? FileManager.default.removeItem(atPath: folder) }
    try outcome.write(to: folder)
    let test = outcome.data.split.test
    let scaffold = try Checkpoint.load(folder + "/scaffold.h5"), f = try Checkpoint.load(folder + "/biased.h5")
    #expect(scaffold.architecture == "scaffold" && Checkpoint.recordedDataset(folder + "/scaffold.h5") == nil)
    let switchNetwork = try #require(scaffold.network as? ScaffoldNetwork)
    #expect(switchNetwork.seenValues == outcome.network.seenValues && switchNetwork.threshold == outcome.network.threshold)
    // On the real test rows: the logits of the run's scaffold; exactly f's on every row the detector
    // passes, which are the rows of the fidelity, or more.
    let (e, fx) = (scaffold(test.inputs).scalars, f(test.inputs).scalars)
    #expect(e == outcome.network.model()(test.inputs).scalars && fx == outcome.network.biased(test.inputs).scalars)
    let inside = switchNetwork.inDistribution(test.inputs)
    for r in 0..<test.count where inside[r] { #expect(e[2 * r] == fx[2 * r] && e[2 * r + 1] == fx[2 * r + 1]) }
    #expect(Double(inside.filter { $0 }.count) / Double(test.count) >= 0.9)
    // On the explainers' perturbations: mostly psi's answers.
    let centres = ScaffoldRun.background(data: outcome.data, settings: settings)
    let psi = outcome.network.innocuous
    for source in [PerturbationSource.lime, .kernelshap] {
      let p = try OODClassifier.perturbations(of: test.inputs, players: test.features, source: source, background: centres, count: 400, seed: 77)
      let agree = zip(scaffold(p).argmaxLastAxis(), psi(p).argmaxLastAxis()).filter { $0 == $1 }.count
      #expect(agree >= 360, "\(source): the scaffold answers \(agree) of 400 perturbations like psi")
    }
    // Decoded by JSONDecoder: JSONSerialization reads numbers through NSDecimalNumber, and its
    // Double of 0.9846153846153847 is 0.9846153846153849.
    struct Head: Decodable { let fidelity: Double, biasedRule: String }
    let decoder = JSONDecoder()
    decoder.keyDecodingStrategy = .convertFromSnakeCase
    let head = try decoder.decode(Head.self, from: Data(contentsOf: URL(fileURLWithPath: folder + "/report.json")))
    #expect(head.fidelity == r.fidelity && head.biasedRule == "race = African-American")
  }
}
