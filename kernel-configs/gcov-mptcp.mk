# With --coverage, on a tree without CONFIG_GCOV_PROFILE_MPTCP: read by every make of the build
# before its own makefiles (GNU make's MAKEFILES variable), so that kbuild profiles net/mptcp as
# if its Makefile said `GCOV_PROFILE := y` (Documentation/dev-tools/gcov.rst), the tree untouched.
# kbuild evaluates GCOV_PROFILE per object, with obj= the object's directory; a directory that
# sets GCOV_PROFILE itself keeps its own choice.
GCOV_PROFILE = $(if $(filter net/mptcp,$(obj)),y)
# atomic counter updates, as the MPTCP CI builds (kbuild itself adds prefer-atomic where it works)
ifeq ($(filter -fprofile-update=atomic,$(CFLAGS_GCOV)),)
CFLAGS_GCOV += -fprofile-update=atomic
endif
