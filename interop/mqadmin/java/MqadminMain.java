/*
 * Runs the official mqadmin (org.apache.rocketmq.tools.command.MQAdminStartup.main, unchanged)
 * and exits as soon as it returns.
 *
 * MQAdminStartup never calls System.exit: a failed command's exception (SubCommandException
 * and its cause) is printed to stderr and main returns normally, so the exit status is 0
 * whether the command worked or not (only commons-cli parse errors exit 1, through
 * ServerUtil). After main returns, the JVM would linger 2-3 s for Netty's graceful shutdown
 * of the client's event loops (non-daemon threads); every command has printed and shut its
 * clients down by then, so this wrapper exits at once. check.py judges a command by its
 * output, not by this status.
 *
 * One more wait is cut short: in 5.x, NettyRemotingClient.shutdown joins its
 * "NettyEventExecutor" thread, which sits in eventQueue.poll(3000 ms) and does not see the
 * stop flag until that poll times out, so about one command in three spent 3 s idle in
 * shutdown. While the main thread is inside ServiceThread.shutdown, a daemon watcher
 * interrupts that thread; its loop catches the interrupt, sees it is stopped and ends, as it
 * would have after the poll. Nothing else is touched.
 */
public final class MqadminMain {
    private MqadminMain() {
    }

    public static void main(String[] args) {
        Thread main = Thread.currentThread();
        Thread watcher = new Thread(() -> hurryEventExecutors(main), "mqadmin-it-shutdown-watcher");
        watcher.setDaemon(true);
        watcher.start();
        int status = 0;
        try {
            org.apache.rocketmq.tools.command.MQAdminStartup.main(args);
        } catch (Throwable t) { // main catches Exception; an Error would escape it
            t.printStackTrace();
            status = 1;
        }
        System.out.flush();
        System.err.flush();
        Runtime.getRuntime().halt(status);
    }

    private static void hurryEventExecutors(Thread main) {
        while (true) {
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                return;
            }
            boolean stopping = false;
            for (StackTraceElement frame : main.getStackTrace()) {
                if (frame.getClassName().equals("org.apache.rocketmq.common.ServiceThread")
                    && frame.getMethodName().equals("shutdown")) {
                    stopping = true;
                    break;
                }
            }
            if (!stopping) {
                continue;
            }
            for (Thread t : Thread.getAllStackTraces().keySet()) {
                if (t.getName().equals("NettyEventExecutor")) {
                    t.interrupt();
                }
            }
        }
    }
}
