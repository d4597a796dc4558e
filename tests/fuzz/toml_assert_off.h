// Forced into every file of the fuzz build that uses toml++ (CMakeLists.txt, WSG_FUZZ): toml++'s
// internal assertions off, as in Debian's libtomlplusplus, without NDEBUG (under clang, NDEBUG
// would turn them into __builtin_assume, undefined behaviour when one does not hold).
#pragma once
#define TOML_ASSERT(expr) static_cast<void>(0)
