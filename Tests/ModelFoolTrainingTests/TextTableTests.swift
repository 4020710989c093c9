import ModelFoolTraining
import Testing

/// The one plain-text table renderer: widths from the widest cell, alignment, ragged rows.
@Suite struct TextTableTests {
  @Test func columnsTakeTheirWidestCell() {
    let table = TextTable(header: ["method", "FSR", "PCC"], rows: [["gradcam", "100.0%", "0.5"], ["lrp", "9.5%", "-0.125"]])
    #expect(table.render() == """
      method      FSR     PCC
      gradcam  100.0%     0.5
      lrp        9.5%  -0.125
      """)
  }

  @Test func leftColumnsShortRowsAndNoHeader() {
    let table = TextTable(header: [], rows: [["a", "bb", "1"], ["ccc"]], leftColumns: 2)
    // The short row's empty cells leave only trailing spaces, which are trimmed.
    #expect(table.render() == "a    bb  1\nccc")
  }
}
