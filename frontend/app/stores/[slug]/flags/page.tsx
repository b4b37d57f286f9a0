import Flags from '@/components/Flags';

export default async function Page({ params }: { params: Promise<{ slug: string }> }) {
  return <Flags slug={(await params).slug} />;
}
