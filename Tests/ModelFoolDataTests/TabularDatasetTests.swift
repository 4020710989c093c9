import Foundation
import ModelFool
import ModelFoolData
import Testing

/// Checks shared by every tabular data set.
enum TabularChecks {
  /// Each numeric column of `train` has mean ~0 and population std ~1 (or is constant 0).
  static func numericColumnsStandardised(_ train: Dataset) {
    let d = train.inputs.shape[1], x = train.inputs.scalars, n = train.count
    for g in train.features where g.categories.isEmpty {
      var sum = 0.0, sq = 0.0
      for r in 0..<n { let v = Double(x[r * d + g.start]); sum += v; sq += v * v }
      let mean = sum / Double(n), std = (sq / Double(n) - mean * mean).squareRoot()
      #expect(abs(mean) < 1e-4, "\(train.name).\(g.name) mean \(mean)")
      #expect(abs(std - 1) < 1e-3, "\(train.name).\(g.name) std \(std)")
    }
  }

  /// Every one-hot group holds exactly one 1 and otherwise 0 in every row.
  static func oneHotGroupsSumToOne(_ set: Dataset) {
    let d = set.inputs.shape[1], x = set.inputs.scalars
    var bad = 0
    for r in 0..<set.count {
      for g in set.features where !g.categories.isEmpty {
        let cells = x[(r * d + g.start)..<(r * d + g.start + g.width)]
        if cells.reduce(0, +) != 1 || cells.contains(where: { $0 != 0 && $0 != 1 }) { bad += 1 }
      }
    }
    #expect(bad == 0, "\(set.name): \(bad) one-hot cells not one-hot")
  }

  /// Feature groups tile the input columns without gaps.
  static func groupsTile(_ set: Dataset) {
    var next = 0
    for g in set.features {
      #expect(g.start == next && g.width == max(1, g.categories.count))
      next += g.width
    }
    #expect(next == set.inputs.shape[1])
  }

  static func all(_ split: DatasetSplit) {
    numericColumnsStandardised(split.train)
    for s in [split.train, split.test] { oneHotGroupsSumToOne(s); groupsTile(s) }
    #expect(split.train.features == split.test.features)
  }

  static func sensitive(_ set: Dataset) -> [String] { set.features.filter(\.isSensitive).map(\.name) }

  /// Value of input column `c` of row `r`.
  static func cell(_ set: Dataset, _ r: Int, _ c: Int) -> Float { set.inputs.scalars[r * set.inputs.shape[1] + c] }

  /// The category of group `name` that row `r` has.
  static func category(_ set: Dataset, _ r: Int, _ name: String) -> String? {
    guard let g = set.features.first(where: { $0.name == name }) else { return nil }
    return g.columns.firstIndex { cell(set, r, $0) == 1 }.map { g.categories[$0 - g.start] }
  }
}

@Suite struct AdultDatasetTests {
  @Test func countsFeaturesAndKnownValues() throws {
    let t = try AdultDataset.loadTabular(root: ShippedDatasets.root)
    let split = t.split
    // Every raw row is kept ("?" is its own category).
    #expect(split.train.count == 32561 && split.test.count == 16281)
    #expect(split.train.inputs.shape == [32561, 91] && split.test.inputs.shape == [16281, 91])
    #expect(split.train.classNames == ["<=50K", ">50K"])
    #expect(split.train.labels.reduce(0, +) == 7841 && split.test.labels.reduce(0, +) == 3846)
    #expect(split.train.features.map(\.name) == [
      "age", "workclass", "education-num", "marital-status", "occupation", "relationship", "race", "sex",
      "capital-gain", "capital-loss", "hours-per-week", "native-country",
    ])
    #expect(split.train.features.map(\.width) == [1, 9, 1, 7, 15, 6, 5, 2, 1, 1, 1, 42])
    #expect(TabularChecks.sensitive(split.train) == ["age", "race", "sex"])
    let workclass = split.train.features[1]
    #expect(workclass.categories.first == "?" && workclass.categories.contains("State-gov"))
    // Train mean / std of age (hand-computed with Python over adult.data, ddof 0).
    #expect(abs(t.encoder.means[0] - 38.581647) < 1e-3)
    #expect(abs(t.encoder.standardDeviations[0] - 13.640223) < 1e-3)
    #expect(abs(t.encoder.means[8] - 0.73462) < 1e-4)  // mean of log1p(capital-gain)
    // First train row: 39, State-gov, ..., White, Male, <=50K.
    #expect(abs(TabularChecks.cell(split.train, 0, 0) - 0.030671) < 1e-4)
    #expect(TabularChecks.category(split.train, 0, "workclass") == "State-gov")
    #expect(TabularChecks.category(split.train, 0, "sex") == "Male")
    #expect(TabularChecks.category(split.train, 0, "race") == "White")
    #expect(split.train.labels[0] == 0)
    // First test row (after the comment line): 25, Private, ..., Black, Male, <=50K.
    #expect(TabularChecks.category(split.test, 0, "race") == "Black")
    #expect(split.test.labels[0] == 0)
    TabularChecks.all(split)
  }

  @Test func badLabelNamesFileAndLine() throws {
    let root = try ShippedDatasets.temporaryFolder("adult")
    defer { try? FileManager.default.removeItem(atPath: root) }
    let row = "39, State-gov, 77516, Bachelors, 13, Never-married, Adm-clerical, Not-in-family, White, Male, 2174, 0, 40, United-States"
    let path = try ShippedDatasets.write(Array("\(row), <=50K\n\(row), maybe\n".utf8), to: root, "adult/adult.data")
    #expect(ShippedDatasets.dataErrorMessage { _ = try AdultDataset.load(root: root) }
      == "\(path): line 2: income 'maybe' is neither <=50K nor >50K")
    _ = try ShippedDatasets.write(Array("\(row), <=50K\n39, State-gov\n".utf8), to: root, "adult/adult.data")
    #expect(ShippedDatasets.dataErrorMessage { _ = try AdultDataset.load(root: root) }
      == "\(path): line 2: expected 15 fields, found 2")
  }
}

@Suite struct GermanCreditDatasetTests {
  @Test func countsFeaturesAndKnownValues() throws {
    let t = try GermanCreditDataset.loadTabular(root: ShippedDatasets.root)
    let split = t.split
    #expect(split.train.count == 800 && split.test.count == 200)
    #expect(split.train.inputs.shape == [800, 61])
    #expect(split.train.classNames == ["bad", "good"])
    // 700 good / 300 bad, stratified 80/20.
    #expect(split.train.labels.reduce(0, +) == 560 && split.test.labels.reduce(0, +) == 140)
    #expect(TabularChecks.sensitive(split.train) == ["status_sex", "age"])
    let statusSex = split.train.features.first { $0.name == "status_sex" }!
    #expect(statusSex.categories == [
      "male : divorced/separated", "female : divorced/separated/married", "male : single", "male : married/widowed",
    ])
    let purpose = split.train.features.first { $0.name == "purpose" }!
    #expect(purpose.width == 10 && purpose.categories.last == "others")  // A47 never occurs; A410 last
    #expect(split.train.features.first { $0.name == "telephone" }!.categories == ["no", "yes"])
    // Row 1 of german.data: A11 6 A34 A43 1169 ... A93 ... 67 ... good.
    let rows = try GermanCreditDataset.readRows(path: ShippedDatasets.root + "/german/german.data")
    #expect(rows.count == 1000 && rows.labels.reduce(0, +) == 700)
    #expect(rows.values[0][0] == "A11" && rows.values[0][4] == "1169" && rows.values[0][12] == "67")
    #expect(rows.labels[0] == 1 && rows.labels[1] == 0)
    let one = try t.encoder.encode(rows.subset([0]))
    let first = Dataset(name: "german", inputs: one, labels: [1], classNames: split.train.classNames,
                        features: t.encoder.features)
    #expect(TabularChecks.category(first, 0, "status") == "... < 0 DM")
    #expect(TabularChecks.category(first, 0, "status_sex") == "male : single")
    let age = t.encoder.features.first { $0.name == "age" }!.start
    #expect(abs(TabularChecks.cell(first, 0, age) - (67 - t.encoder.means[12]) / t.encoder.standardDeviations[12]) < 1e-5)
    TabularChecks.all(split)
  }

  @Test func badClassNamesFileAndLine() throws {
    let root = try ShippedDatasets.temporaryFolder("german")
    defer { try? FileManager.default.removeItem(atPath: root) }
    _ = try ShippedDatasets.write(ShippedDatasets.bytes("german/values_maps.json"), to: root, "german/values_maps.json")
    let row = "A11 6 A34 A43 1169 A65 A75 4 A93 A101 4 A121 67 A143 A152 2 A173 1 A192 A201"
    let path = try ShippedDatasets.write(Array("\(row) 1\n\(row) 3\n".utf8), to: root, "german/german.data")
    #expect(ShippedDatasets.dataErrorMessage { _ = try GermanCreditDataset.load(root: root) }
      == "\(path): line 2: class '3' is neither 1 (good) nor 2 (bad)")
    _ = try ShippedDatasets.write(Array("\(row) 1\n\(row.replacingOccurrences(of: "A93", with: "A99")) 2\n".utf8),
                                  to: root, "german/german.data")
    #expect(ShippedDatasets.dataErrorMessage { _ = try GermanCreditDataset.load(root: root) }
      == "\(path): line 2: unknown status_sex category 'A99'")
    let json = try ShippedDatasets.write(Array("{not json".utf8), to: root, "german/values_maps.json")
    #expect(ShippedDatasets.dataErrorMessage { _ = try GermanCreditDataset.load(root: root) }
      == "\(json): not a JSON object of attribute -> {code: name} maps")
  }
}

@Suite struct CompasDatasetTests {
  @Test func filtersCountsAndKnownValues() throws {
    let path = ShippedDatasets.root + "/compas/compas-scores-two-years.csv"
    let raw = try CSV.read(path: path)
    #expect(raw.rows.count == 7214 && raw.header.count == 53)
    let rows = try CompasDataset.readRows(path: path)
    #expect(rows.count == 6172)  // ProPublica's filtered count
    #expect(rows.labels.reduce(0, +) == 2809)
    // First file row (miguel hernandez) passes the filters.
    #expect(rows.values[0] == ["Male", "69", "Other", "0", "0", "0", "0", "F"] && rows.labels[0] == 0 && rows.lines[0] == 2)
    let t = try CompasDataset.loadTabular(root: ShippedDatasets.root)
    let split = t.split
    #expect(split.train.count == 4937 && split.test.count == 1235)
    #expect(split.train.labels.reduce(0, +) == 2247 && split.test.labels.reduce(0, +) == 562)
    #expect(split.train.inputs.shape == [4937, 15])
    #expect(split.train.features.map(\.name) == [
      "sex", "age", "race", "juv_fel_count", "juv_misd_count", "juv_other_count", "priors_count", "c_charge_degree",
    ])
    #expect(split.train.features[2].categories == [
      "African-American", "Asian", "Caucasian", "Hispanic", "Native American", "Other",
    ])
    #expect(split.train.features[7].categories == ["felony", "misdemeanor"])
    #expect(TabularChecks.sensitive(split.train) == ["sex", "age", "race"])
    #expect(!t.encoder.columns.contains { $0.name.contains("score") })
    TabularChecks.all(split)
  }

  @Test func missingColumnNamesFile() throws {
    let root = try ShippedDatasets.temporaryFolder("compas")
    defer { try? FileManager.default.removeItem(atPath: root) }
    let path = try ShippedDatasets.write(Array("id,sex,age\r\n1,Male,69\r\n".utf8), to: root, "compas/compas-scores-two-years.csv")
    #expect(ShippedDatasets.dataErrorMessage { _ = try CompasDataset.load(root: root) } == "\(path): no column named 'race'")
  }
}

@Suite struct TabularEncoderTests {
  @Test func handComputedEncoding() throws {
    let columns: [TabularColumn] = [.numeric("x"), .categorical("c", sensitive: true), .numeric("g", log1p: true)]
    let train = TabularRows(file: "train", values: [["1", "b", "0"], ["3", "a", "e"]], labels: [0, 1], lines: [1, 2])
    let bad = ShippedDatasets.dataErrorMessage { _ = try TabularEncoder.fit(columns: columns, train: train) }
    #expect(bad == "train: line 2: g 'e' is not a number")
    let ok = TabularRows(file: "train", values: [["1", "b", "0"], ["3", "a", "\(M_E - 1)"]], labels: [0, 1], lines: [1, 2])
    let test = TabularRows(file: "test", values: [["5", "z", "0"]], labels: [1], lines: [7])
    let enc = try TabularEncoder.fit(columns: columns, train: ok, vocabulary: [test])
    // x: mean 2, std 1; c: categories a, b, z; g: log1p -> 0 and 1, mean 0.5, std 0.5.
    #expect(enc.means == [2, 0, 0.5] && enc.standardDeviations == [1, 1, 0.5])
    #expect(enc.features == [
      FeatureGroup(name: "x", start: 0, width: 1),
      FeatureGroup(name: "c", start: 1, width: 3, categories: ["a", "b", "z"], isSensitive: true),
      FeatureGroup(name: "g", start: 4, width: 1),
    ])
    #expect(try enc.encode(ok).scalars == [-1, 0, 1, 0, -1, 1, 1, 0, 0, 1])
    #expect(try enc.encode(test).scalars == [3, 0, 0, 1, -1])
    let unseen = TabularRows(file: "new", values: [["1", "q", "0"]], labels: [0], lines: [3])
    #expect(ShippedDatasets.dataErrorMessage { _ = try enc.encode(unseen) } == "new: line 3: unknown c category 'q'")
    // Codable round trip (a checkpoint stores the encoder).
    let back = try JSONDecoder().decode(TabularEncoder.self, from: JSONEncoder().encode(enc))
    #expect(back == enc)
  }
}
