# Run by `cmake --install` (install(CODE) in daemon/CMakeLists.txt): writes
# the systemd units with ExecStart pointing at the prefix being installed to,
# which is known only now (`--prefix` may differ from the configured one),
# and installs them through file(INSTALL) so DESTDIR and the install
# manifest apply.
#
# In: EVALD_UNIT_TEMPLATES (system template;user template), EVALD_UNIT_WORK
# (a build folder), EVALD_BINDIR (where evald goes, relative to the prefix).
# CMAKE_INSTALL_PREFIX is the install-time prefix.
list(GET EVALD_UNIT_TEMPLATES 0 system_template)
list(GET EVALD_UNIT_TEMPLATES 1 user_template)
foreach(kind system user)
  file(READ "${${kind}_template}" text)
  string(REPLACE "@EVALD_BIN_DIR@" "${CMAKE_INSTALL_PREFIX}/${EVALD_BINDIR}" text "${text}")
  file(MAKE_DIRECTORY "${EVALD_UNIT_WORK}/${kind}")
  file(WRITE "${EVALD_UNIT_WORK}/${kind}/evald.service" "${text}")
  file(INSTALL DESTINATION "${CMAKE_INSTALL_PREFIX}/lib/systemd/${kind}" TYPE FILE
       FILES "${EVALD_UNIT_WORK}/${kind}/evald.service")
endforeach()
