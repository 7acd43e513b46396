// svg_check_test.cpp: the XML well-formedness check the example tests rely on must itself catch
// what it claims to: unbalanced, misnested and unterminated tags.
#include "examples/example_test_helpers.h"

namespace {

using examples_test::check_xml;

TEST(SvgCheckTest, AcceptsWellFormedSvgAndCountsCells) {
  const auto c = check_xml("<?xml version=\"1.0\"?>\n<svg a=\"x>y\"><g><rect class=\"cell\"/>"
                           "<rect class=\"cell\" /><text>a &lt; b</text></g><!-- <x> --></svg>");
  EXPECT_EQ(c.error, "");
  EXPECT_EQ(c.cells, 2);
  EXPECT_EQ(c.elements, 5);
}

TEST(SvgCheckTest, RejectsUnbalancedMisnestedAndUnterminatedTags) {
  EXPECT_NE(check_xml("<svg><g></svg>").error, "");
  EXPECT_NE(check_xml("<svg><g></svg></g>").error, "");
  EXPECT_NE(check_xml("<svg><rect x=\"1\"</svg>").error, "");
  EXPECT_NE(check_xml("<svg>").error, "");
  EXPECT_NE(check_xml("no markup").error, "");
}

}  // namespace
