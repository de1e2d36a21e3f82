# What `cmake --install` puts where: the packages (debian/*.install) take
# their files from this tree, so this is the one list of what ftzgate ships.
# Daemons go to sbin, what people run to bin (Debian's FHS); data that does
# not change at run time to share/ftzgate; the MIB where net-snmp looks.
include(GNUInstallDirs)

set(FTZ_SHARE_DIR ${CMAKE_INSTALL_DATADIR}/ftzgate)

foreach(daemon ftzgated ftzgate-dp ftzgate-xdp ftzgate-snmp)
  if(TARGET ${daemon})
    install(TARGETS ${daemon} RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})
  endif()
endforeach()
foreach(tool ftzctl ftzgate-inspect ftzgate-gen ftzgate-sign)
  if(TARGET ${tool})
    install(TARGETS ${tool} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  endif()
endforeach()

# First boot and the factory defaults it initialises ftzgated with. The
# factory configuration names signatures/ and data/ beside it: the packages
# link those to ../signatures and ../data (debian/ftzgate-controlplane.links).
install(PROGRAMS images/ftzgate-firstboot images/ftzgate-hostprep DESTINATION ${CMAKE_INSTALL_SBINDIR})
install(FILES images/factory/ftzgate.yaml DESTINATION ${FTZ_SHARE_DIR}/factory)

# Hardware profiles: ftzgate-dp@PROFILE.service and ftzgate-xdp@PROFILE.service
# read /etc/ftzgate/profiles/PROFILE.yaml, which the operator (or first boot)
# copies from here and edits (PCI addresses, interface names).
install(DIRECTORY drivers/profiles/ DESTINATION ${FTZ_SHARE_DIR}/profiles FILES_MATCHING PATTERN "*.yaml")

# The built-in signature pack; its detached signature is made by the package
# build with the vendor's key (debian/rules), not here.
install(FILES examples/signatures/builtin.yaml DESTINATION ${FTZ_SHARE_DIR}/signatures)
# The mainland prefix lists (configurations name them; they change monthly,
# with a package update or by the operator's own files).
install(DIRECTORY examples/data/ DESTINATION ${FTZ_SHARE_DIR}/data)

# SNMP: the MIB for managers and snmpd's side of ftzgate-snmp.
install(FILES mgmt/snmp/FTZGATE-MIB.txt DESTINATION ${CMAKE_INSTALL_DATADIR}/snmp/mibs)
install(FILES mgmt/snmp/ftzgate.conf DESTINATION ${CMAKE_INSTALL_SYSCONFDIR}/snmp/snmpd.conf.d)

# Prometheus alert rules and the Grafana dashboard for the NOC.
install(DIRECTORY examples/prometheus/ DESTINATION ${FTZ_SHARE_DIR}/prometheus)
