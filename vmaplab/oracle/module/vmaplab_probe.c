// SPDX-License-Identifier: GPL-2.0
/*
 * vmaplab_probe: runs a vmaplab oracle scenario inside a real kernel.
 *
 * Written for vmaplab (not derived from kernel sources). It calls GPL-only
 * exports (vm_unmap_aliases, kthread binding), hence MODULE_LICENSE("GPL").
 *
 * Protocol (docs/oracle.md): userspace writes one whole script to
 * /proc/vmaplab_probe, one op per line, "OP CPU A B" with decimal or 0x
 * numbers. The write does, in order and with nothing else allocated in
 * between: open the /proc files the ops use (in the writer's context: since
 * 7.x a kthread resolves paths in an empty root), settle (wait for RCU
 * callbacks and the system workqueues, purge lazy areas, run the shrinkers;
 * twice), read /proc/vmallocinfo into a buffer allocated at load time, run
 * every op on a kthread bound to its CPU (created at load time, so their
 * stacks already exist), flushing the workqueue schedule_work() uses after
 * each op so the drain work the op scheduled has finished, read
 * /proc/vmallocinfo again, then free what the script left allocated. Reading
 * the file returns the two snapshots and one "R index address" line per op.
 *
 * When /init passes the addresses of free_vmap_area_root and
 * free_vmap_area_lock (both static in mm/vmalloc.c, found in /proc/kallsyms),
 * each snapshot is followed by the free tree itself, walked under that lock:
 * "BEGIN-FREE-tag", one "F va_start va_end colour subtree_max_size" line per
 * free block in pre-order (colour r or b), "END-FREE-tag". A binary search
 * tree's pre-order fixes its shape; the colours make it the red-black tree
 * (docs/oracle.md §2.2).
 */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/kthread.h>
#include <linux/completion.h>
#include <linux/vmalloc.h>
#include <linux/io.h>
#include <linux/mm.h>
#include <linux/proc_fs.h>
#include <linux/fs.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/workqueue.h>
#include <linux/cpumask.h>
#include <linux/mutex.h>
#include <linux/rcupdate.h>
#include <linux/elf.h>
#include <linux/delay.h>
#include <linux/version.h>
#include <linux/rbtree_augmented.h>
#include <linux/spinlock.h>

/*
 * schedule_work() queues on system_percpu_wq since 6.17, a workqueue of its
 * own, no longer system_wq; Debian's 6.12 has it too (a stable backport: the
 * workqueue since 6.12.77, schedule_work() on it since 6.12.111). Where
 * it exists the probe flushes both.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 17, 0) || \
	(LINUX_VERSION_CODE >= KERNEL_VERSION(6, 12, 77) && LINUX_VERSION_CODE < KERNEL_VERSION(6, 13, 0))
#define PROBE_HAVE_PERCPU_WQ	1
#else
#define PROBE_HAVE_PERCPU_WQ	0
#endif

#define PROBE_MAX_OPS		4096
#define PROBE_MAX_PAGES		1024	/* per vmap / vm_map_ram op */
#define PROBE_SNAP_SIZE		(1UL << 20)
#define PROBE_OUT_SIZE		(3UL << 20)
#define PROBE_SCRIPT_SIZE	(256UL << 10)
#define PROBE_VREAD_MAX		(64UL << 10)	/* bytes one vread op may read through /proc/kcore */

static unsigned long vmalloc_node_fn;	/* __vmalloc_node_noprof, from /proc/kallsyms */
module_param(vmalloc_node_fn, ulong, 0400);
MODULE_PARM_DESC(vmalloc_node_fn, "address of __vmalloc_node_noprof (for aligned vmalloc)");

/* both static in mm/vmalloc.c, from /proc/kallsyms; 0: no free-tree sections */
static unsigned long free_root;
module_param(free_root, ulong, 0400);
MODULE_PARM_DESC(free_root, "address of free_vmap_area_root (the free tree, walked at each snapshot)");

static unsigned long free_lock;
module_param(free_lock, ulong, 0400);
MODULE_PARM_DESC(free_lock, "address of free_vmap_area_lock (held while the free tree is walked)");

/* vrealloc_noprof: 6.12 has it but does not export it; 7.x exports vrealloc_node_align_noprof */
static unsigned long vrealloc_fn;
module_param(vrealloc_fn, ulong, 0400);
MODULE_PARM_DESC(vrealloc_fn, "address of vrealloc_noprof (6.12; 7.x calls the export)");

static unsigned int settle_ms = 20;
module_param(settle_ms, uint, 0400);
MODULE_PARM_DESC(settle_ms, "sleep between ops, then flush the workqueue again (default 20)");

typedef void *(*vmalloc_node_t)(unsigned long size, unsigned long align,
				gfp_t gfp, int node, const void *caller);
typedef void *(*vrealloc_t)(const void *p, size_t size, gfp_t flags);

/* the gfp of a vmalloc op: its B field (0, the default, keeps the plain vmalloc() call) */
#define PROBE_GFP_KERNEL	0
#define PROBE_GFP_NOWAIT	1

enum probe_kind { P_NONE, P_VMALLOC, P_VMAP, P_RAM, P_IOREMAP };

struct probe_op {
	char name[24];
	unsigned int cpu;
	unsigned long a, b, c;
	unsigned long result;
	/* what a later free needs to know about this op's allocation */
	enum probe_kind kind;
	struct page **pages;
	unsigned int nr_pages;
	bool freed;
};

struct probe_cpu {
	struct task_struct *task;
	struct completion go, done;
	struct probe_op *op;
	bool stop;
};

static struct probe_op *ops;
static unsigned int nr_ops;
static struct probe_cpu *workers;
static char *out, *script, *vread_buf;
static size_t out_len;
static DEFINE_MUTEX(probe_lock);
/* opened by the writer, used by the kthreads (which may have no usable root) */
static struct file *drop_caches_file, *kcore_file;

static __printf(1, 2) void out_printf(const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	out_len += vscnprintf(out + out_len, PROBE_OUT_SIZE - out_len, fmt, args);
	va_end(args);
}

static struct probe_op *ref_op(struct probe_op *op)
{
	if (op->a >= nr_ops || op->a >= (unsigned long)(op - ops))
		return NULL;
	return &ops[op->a];
}

static struct page **alloc_page_array(unsigned int n)
{
	struct page **pages = kcalloc(n, sizeof(*pages), GFP_KERNEL);
	unsigned int i;

	if (!pages)
		return NULL;
	for (i = 0; i < n; i++) {
		pages[i] = alloc_page(GFP_KERNEL);
		if (!pages[i])
			goto fail;
	}
	return pages;
fail:
	while (i--)
		__free_page(pages[i]);
	kfree(pages);
	return NULL;
}

static void free_page_array(struct page **pages, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		__free_page(pages[i]);
	kfree(pages);
}

/* Undo one allocation; returns false if @target holds none. */
static bool release(struct probe_op *target)
{
	void *addr = (void *)target->result;

	if (!addr || target->freed || target->kind == P_NONE)
		return false;
	switch (target->kind) {
	case P_VMALLOC:
		vfree(addr);
		break;
	case P_VMAP:
		vunmap(addr);
		free_page_array(target->pages, target->nr_pages);
		break;
	case P_RAM:
		vm_unmap_ram(addr, target->nr_pages);
		free_page_array(target->pages, target->nr_pages);
		break;
	case P_IOREMAP:
		iounmap((void __iomem *)addr);
		break;
	default:
		return false;
	}
	target->freed = true;
	return true;
}

static void flush_system_queues(void)
{
	__flush_workqueue(system_wq);
#if PROBE_HAVE_PERCPU_WQ
	__flush_workqueue(system_percpu_wq);
#endif
}

static int drop_caches(void)
{
	loff_t pos = 0;
	ssize_t n;

	if (IS_ERR_OR_NULL(drop_caches_file))
		return drop_caches_file ? PTR_ERR(drop_caches_file) : -ENOENT;
	n = kernel_write(drop_caches_file, "2\n", 2, &pos);
	return n < 0 ? n : 0;
}

/* Page i of @target's mapping gets the byte (value + i) & 0xff, through the mapping itself. */
static bool fill(struct probe_op *target, unsigned long value)
{
	unsigned int i;

	if (!target->result || target->freed || target->kind == P_IOREMAP || target->kind == P_NONE)
		return false;
	for (i = 0; i < target->nr_pages; i++)
		memset((char *)target->result + i * PAGE_SIZE, (value + i) & 0xff, PAGE_SIZE);
	return true;
}

/*
 * Read @count bytes at kernel address @addr through /proc/kcore, which reads vmalloc space with
 * vread_iter(): find the ELF program header whose range holds @addr, read at its file offset.
 */
static ssize_t kcore_read(unsigned long addr, size_t count)
{
	struct file *f = kcore_file;
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	loff_t pos = 0;
	ssize_t n = -ENOENT;
	unsigned int i;

	if (IS_ERR_OR_NULL(f))
		return f ? PTR_ERR(f) : -ENOENT;
	if (kernel_read(f, &eh, sizeof(eh), &pos) != sizeof(eh))
		return n;
	for (i = 0; i < eh.e_phnum; i++) {
		pos = eh.e_phoff + i * sizeof(ph);
		if (kernel_read(f, &ph, sizeof(ph), &pos) != sizeof(ph))
			break;
		if (ph.p_type != PT_LOAD || addr < ph.p_vaddr || addr - ph.p_vaddr >= ph.p_memsz)
			continue;
		pos = ph.p_offset + (addr - ph.p_vaddr);
		n = kernel_read(f, vread_buf, count, &pos);
		break;
	}
	return n;
}

/* "V index" then the bytes read, run-length encoded: "41*4096 42*16" */
static void print_vread(unsigned int index, ssize_t n)
{
	ssize_t i = 0, j;

	out_printf("V %u", index);
	if (n < 0)
		out_printf(" error%zd", n);
	while (i < n) {
		for (j = i; j < n && vread_buf[j] == vread_buf[i]; j++)
			;
		out_printf(" %02x*%zd", (unsigned char)vread_buf[i], j - i);
		i = j;
	}
	out_printf("\n");
}

/* vrealloc(p, size, GFP_KERNEL); NULL where the kernel has none (6.1) */
static void *probe_vrealloc(const void *p, size_t size)
{
#if defined(vrealloc_node_align)	/* 7.x: vrealloc() is a macro over the export */
	return vrealloc(p, size, GFP_KERNEL);
#else
	if (!vrealloc_fn)
		return NULL;
	return ((vrealloc_t)vrealloc_fn)(p, size, GFP_KERNEL);
#endif
}

static void run_op(struct probe_op *op)
{
	struct probe_op *target;

	op->result = 0;
	if (!strcmp(op->name, "vmalloc")) {
		op->kind = P_VMALLOC;
		op->nr_pages = DIV_ROUND_UP(op->a, PAGE_SIZE);
		if (op->b == PROBE_GFP_NOWAIT)
			op->result = (unsigned long)__vmalloc(op->a, GFP_NOWAIT);
		else if (op->b == PROBE_GFP_KERNEL)
			op->result = (unsigned long)vmalloc(op->a);
	} else if (!strcmp(op->name, "vrealloc")) {
		/* the new allocation is this op's; the old one is gone only when vrealloc succeeds */
		target = ref_op(op);
		op->kind = P_VMALLOC;
		op->nr_pages = DIV_ROUND_UP(op->b, PAGE_SIZE);
		if (target && target->result && !target->freed && target->kind == P_VMALLOC && op->b) {
			op->result = (unsigned long)probe_vrealloc((void *)target->result, op->b);
			if (op->result)
				target->freed = true;
		}
	} else if (!strcmp(op->name, "vmalloc_node")) {
		op->kind = P_VMALLOC;
		op->nr_pages = DIV_ROUND_UP(op->a, PAGE_SIZE);
		if (vmalloc_node_fn)
			op->result = (unsigned long)((vmalloc_node_t)vmalloc_node_fn)(
				op->a, op->b, GFP_KERNEL, NUMA_NO_NODE,
				__builtin_return_address(0));
	} else if (!strcmp(op->name, "vmap") || !strcmp(op->name, "vm_map_ram")) {
		bool ram = op->name[1] == 'm' && op->name[2] == '_';

		op->kind = ram ? P_RAM : P_VMAP;
		op->nr_pages = op->a;
		if (op->a == 0 || op->a > PROBE_MAX_PAGES)
			return;
		op->pages = alloc_page_array(op->a);
		if (!op->pages)
			return;
		op->result = ram ? (unsigned long)vm_map_ram(op->pages, op->a, NUMA_NO_NODE)
				 : (unsigned long)vmap(op->pages, op->a, VM_MAP, PAGE_KERNEL);
		if (!op->result) {
			free_page_array(op->pages, op->a);
			op->pages = NULL;
		}
	} else if (!strcmp(op->name, "ioremap")) {
		op->kind = P_IOREMAP;
		op->result = (unsigned long)ioremap(op->a, op->b);
	} else if (!strcmp(op->name, "vfree") || !strcmp(op->name, "vunmap") ||
		   !strcmp(op->name, "iounmap") || !strcmp(op->name, "vm_unmap_ram")) {
		target = ref_op(op);
		op->result = target && release(target);
	} else if (!strcmp(op->name, "fill")) {
		target = ref_op(op);
		op->result = target && fill(target, op->b);
	} else if (!strcmp(op->name, "vread")) {
		target = ref_op(op);
		op->kind = P_NONE;
		op->nr_pages = 0;
		if (target && target->result && !target->freed && op->c <= PROBE_VREAD_MAX) {
			op->pages = NULL;
			op->result = 1;
			op->b = (unsigned long)kcore_read(target->result + op->b, op->c);
		}
	} else if (!strcmp(op->name, "release")) {
		op->result = op->a < nr_ops && release(&ops[op->a]);
	} else if (!strcmp(op->name, "vm_unmap_aliases")) {
		vm_unmap_aliases();
		op->result = 1;
	} else if (!strcmp(op->name, "drop_caches")) {
		op->result = drop_caches() == 0;
	}
}

static int probe_thread(void *data)
{
	struct probe_cpu *w = data;

	while (!kthread_should_stop()) {
		if (wait_for_completion_interruptible(&w->go))
			continue;
		if (w->stop)
			break;
		run_op(w->op);
		complete(&w->done);
	}
	while (!kthread_should_stop())
		schedule_timeout_interruptible(HZ);
	return 0;
}

static int on_cpu(struct probe_op *op)
{
	struct probe_cpu *w;

	if (op->cpu >= nr_cpu_ids || !workers[op->cpu].task)
		return -EINVAL;
	w = &workers[op->cpu];
	w->op = op;
	reinit_completion(&w->done);
	complete(&w->go);
	wait_for_completion(&w->done);
	/* the drain work an op schedules has run before the next op starts */
	flush_system_queues();
	msleep(settle_ms);
	flush_system_queues();
	return 0;
}

static void snapshot(const char *tag)
{
	struct file *f = filp_open("/proc/vmallocinfo", O_RDONLY, 0);
	loff_t pos = 0;
	ssize_t n;

	out_printf("BEGIN-%s\n", tag);
	if (IS_ERR(f)) {
		out_printf("ERROR %ld\n", PTR_ERR(f));
	} else {
		while (out_len < PROBE_OUT_SIZE - 1) {
			n = kernel_read(f, out + out_len, PROBE_OUT_SIZE - 1 - out_len, &pos);
			if (n <= 0)
				break;
			out_len += n;
		}
		filp_close(f, NULL);
	}
	out_printf("END-%s\n", tag);
}

/*
 * The free tree in pre-order, under free_vmap_area_lock (docs/oracle.md §2.2):
 * nothing is allocated or slept on while the lock is held, only printed into
 * the buffer allocated at load time. Iterative, by the parent links.
 */
static void free_tree(const char *tag)
{
	struct rb_root *root = (struct rb_root *)free_root;
	spinlock_t *lock = (spinlock_t *)free_lock;
	struct rb_node *n, *p;

	if (!root || !lock)
		return;
	out_printf("BEGIN-FREE-%s\n", tag);
	spin_lock(lock);
	n = root->rb_node;
	while (n) {
		struct vmap_area *va = rb_entry(n, struct vmap_area, rb_node);

		out_printf("F 0x%lx 0x%lx %c 0x%lx\n", va->va_start, va->va_end,
			   rb_is_red(n) ? 'r' : 'b', va->subtree_max_size);
		if (n->rb_left) {
			n = n->rb_left;
		} else if (n->rb_right) {
			n = n->rb_right;
		} else {
			/* climb to the nearest ancestor reached from its left with a right subtree */
			for (;;) {
				p = rb_parent(n);
				if (!p) {
					n = NULL;
					break;
				}
				if (n == p->rb_left && p->rb_right) {
					n = p->rb_right;
					break;
				}
				n = p;
			}
		}
	}
	spin_unlock(lock);
	out_printf("END-FREE-%s\n", tag);
}

static void settle(void)
{
	int i;

	for (i = 0; i < 2; i++) {
		/* stacks of exited tasks are vfree()d from RCU callbacks, then deferred to a work */
		rcu_barrier();
		flush_system_queues();
		vm_unmap_aliases();
		drop_caches();
		flush_system_queues();
	}
}

static int parse_script(char *text)
{
	char *line;

	nr_ops = 0;
	while ((line = strsep(&text, "\n")) != NULL) {
		struct probe_op *op;

		if (!*line)
			continue;
		if (nr_ops == PROBE_MAX_OPS)
			return -E2BIG;
		op = &ops[nr_ops];
		memset(op, 0, sizeof(*op));
		if (sscanf(line, "%23s %u %li %li %li", op->name, &op->cpu, &op->a, &op->b, &op->c) < 2)
			return -EINVAL;
		nr_ops++;
	}
	return 0;
}

static void close_file(struct file **f)
{
	if (!IS_ERR_OR_NULL(*f))
		filp_close(*f, NULL);
	*f = NULL;
}

static void close_files(void)
{
	close_file(&drop_caches_file);
	close_file(&kcore_file);
}

/*
 * Open, in the writer's context, the files the kthreads use: since 7.x a
 * kthread's root is an empty filesystem, so it cannot open /proc/... itself.
 * /proc/kcore only for a script that reads through it (opening it may update
 * the kernel's list of memory ranges); both before the settle step, so
 * whatever opening them allocates is in the before snapshot.
 */
static void open_files(void)
{
	unsigned int i;

	drop_caches_file = filp_open("/proc/sys/vm/drop_caches", O_WRONLY, 0);
	for (i = 0; i < nr_ops; i++) {
		if (!strcmp(ops[i].name, "vread")) {
			kcore_file = filp_open("/proc/kcore", O_RDONLY, 0);
			break;
		}
	}
}

static ssize_t probe_write(struct file *file, const char __user *buf, size_t len, loff_t *ppos)
{
	unsigned int i;
	int err;

	if (len >= PROBE_SCRIPT_SIZE)
		return -E2BIG;
	mutex_lock(&probe_lock);
	err = -EFAULT;
	if (copy_from_user(script, buf, len))
		goto unlock;
	script[len] = '\0';
	err = parse_script(script);
	if (err)
		goto unlock;
	open_files();
	out_len = 0;
	settle();
	snapshot("BEFORE");
	free_tree("BEFORE");
	for (i = 0; i < nr_ops; i++) {
		err = on_cpu(&ops[i]);
		out_printf("R %u %s 0x%lx%s\n", i, ops[i].name, ops[i].result, err ? " badcpu" : "");
		if (!strcmp(ops[i].name, "vread") && ops[i].result)
			print_vread(i, (ssize_t)ops[i].b);
	}
	snapshot("AFTER");
	free_tree("AFTER");
	/* free what the script left, each on the CPU that allocated it */
	for (i = 0; i < nr_ops; i++) {
		struct probe_op cleanup = { .name = "release", .cpu = ops[i].cpu, .a = i };

		if (ops[i].result && !ops[i].freed && ops[i].kind != P_NONE)
			on_cpu(&cleanup);
	}
	err = len;
	close_files();
unlock:
	mutex_unlock(&probe_lock);
	return err;
}

static ssize_t probe_read(struct file *file, char __user *buf, size_t len, loff_t *ppos)
{
	ssize_t n;

	mutex_lock(&probe_lock);
	n = simple_read_from_buffer(buf, len, ppos, out, out_len);
	mutex_unlock(&probe_lock);
	return n;
}

static const struct proc_ops probe_proc_ops = {
	.proc_write = probe_write,
	.proc_read = probe_read,
	.proc_lseek = default_llseek,
};

static void stop_workers(void)
{
	unsigned int cpu;

	for_each_possible_cpu(cpu) {
		struct probe_cpu *w = &workers[cpu];

		if (!w->task)
			continue;
		w->stop = true;
		complete(&w->go);
		kthread_stop(w->task);
	}
}

static int __init probe_init(void)
{
	unsigned int cpu;

	ops = kcalloc(PROBE_MAX_OPS, sizeof(*ops), GFP_KERNEL);
	workers = kcalloc(nr_cpu_ids, sizeof(*workers), GFP_KERNEL);
	out = kmalloc(PROBE_OUT_SIZE, GFP_KERNEL);
	script = kmalloc(PROBE_SCRIPT_SIZE, GFP_KERNEL);
	vread_buf = kmalloc(PROBE_VREAD_MAX, GFP_KERNEL);
	if (!ops || !workers || !out || !script || !vread_buf)
		goto nomem;
	for_each_online_cpu(cpu) {
		struct probe_cpu *w = &workers[cpu];

		init_completion(&w->go);
		init_completion(&w->done);
		w->task = kthread_create_on_cpu(probe_thread, w, cpu, "vmaplab/%u");
		if (IS_ERR(w->task)) {
			w->task = NULL;
			stop_workers();
			goto nomem;
		}
		wake_up_process(w->task);
	}
	if (!proc_create("vmaplab_probe", 0600, NULL, &probe_proc_ops)) {
		stop_workers();
		goto nomem;
	}
	return 0;
nomem:
	kfree(ops);
	kfree(workers);
	kfree(out);
	kfree(script);
	kfree(vread_buf);
	return -ENOMEM;
}

static void __exit probe_exit(void)
{
	remove_proc_entry("vmaplab_probe", NULL);
	stop_workers();
	kfree(ops);
	kfree(workers);
	kfree(out);
	kfree(script);
	kfree(vread_buf);
}

module_init(probe_init);
module_exit(probe_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("vmaplab oracle probe: scripted vmalloc calls on chosen CPUs");
