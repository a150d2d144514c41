#define BOOST_TEST_MODULE systemprompt_api_tests
#include <boost/test/unit_test.hpp>
