package dev.apogee.interop;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.reflect.Method;

import org.apache.rocketmq.tools.admin.DefaultMQAdminExt;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Scenario: mqadmin's admin API ({@code DefaultMQAdminExt}, rocketmq-tools, as
 * {@code mqadmin updateSubGroup / deleteSubGroup} use it) manages a subscription group on
 * Apogee: created with its settings, listed with them, deleted. The config class moved
 * package between 4.x and 5.x; it is found by name so that one test serves both lines.
 */
class SubscriptionGroupAdminTest {

    static Class<?> groupConfigClass() throws ClassNotFoundException {
        for (String name : new String[] {
            "org.apache.rocketmq.remoting.protocol.subscription.SubscriptionGroupConfig",
            "org.apache.rocketmq.common.subscription.SubscriptionGroupConfig"}) {
            try {
                return Class.forName(name);
            } catch (ClassNotFoundException e) {
                // the other line's package
            }
        }
        throw new ClassNotFoundException("SubscriptionGroupConfig");
    }

    @Test
    @Timeout(120)
    void mqadminCreatesListsAndDeletesAGroup() throws Exception {
        String scenario = "subgroup";
        Wire wire = new Wire();
        DefaultMQAdminExt admin = new DefaultMQAdminExt(wire);
        admin.setNamesrvAddr(Interop.namesrv());
        admin.setInstanceName(Interop.name("admin", scenario));
        admin.start();
        try {
            var cluster = admin.examineBrokerClusterInfo();
            String addr = cluster.getBrokerAddrTable().values().iterator().next()
                .getBrokerAddrs().get(0L);
            String group = Interop.name("cg", scenario);

            Class<?> type = groupConfigClass();
            Object config = type.getDeclaredConstructor().newInstance();
            type.getMethod("setGroupName", String.class).invoke(config, group);
            type.getMethod("setConsumeEnable", boolean.class).invoke(config, false);
            type.getMethod("setRetryMaxTimes", int.class).invoke(config, 3);
            Method update = DefaultMQAdminExt.class
                .getMethod("createAndUpdateSubscriptionGroupConfig", String.class, type);
            update.invoke(admin, addr, config);

            var created = admin.getAllSubscriptionGroup(addr, 5_000)
                .getSubscriptionGroupTable().get(group);
            boolean listed = created != null && !created.isConsumeEnable()
                && created.getRetryMaxTimes() == 3 && created.isConsumeBroadcastEnable();

            admin.deleteSubscriptionGroup(addr, group);
            boolean deleted = !admin.getAllSubscriptionGroup(addr, 5_000)
                .getSubscriptionGroupTable().containsKey(group);
            boolean systemGroups = admin.getAllSubscriptionGroup(addr, 5_000)
                .getSubscriptionGroupTable().containsKey("TOOLS_CONSUMER");

            String line = "broker=" + addr + " created+listed=" + listed
                + (created == null ? " (not listed)" : " (consumeEnable=" + created.isConsumeEnable()
                    + " retryMaxTimes=" + created.getRetryMaxTimes() + ")")
                + " deleted=" + deleted + " systemGroups=" + systemGroups;
            boolean pass = listed && deleted && systemGroups;
            Interop.summary(scenario, pass, line, wire);
            assertTrue(pass, scenario + ": " + line);
        } finally {
            admin.shutdown();
        }
    }
}
